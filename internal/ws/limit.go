package ws

// The bound on the sockets of one session: each holds a connection, a
// goroutine and a timer on the replica, and a stolen token should not be
// able to hold thousands of them.

// MaxPerSession is the most sockets one session may hold open in the whole
// cluster. Reserve counts those on this replica, a first check that costs
// no query; the server counts the cluster's in the store.
const MaxPerSession = 10

// Reserve claims a place for a socket of sessionID about to be accepted, or
// reports false when the session holds MaxPerSession on this replica
// already (counting the places claimed and not yet given back). A place is
// given back when its socket is removed, or by Unreserve when the socket
// never came to be held (the upgrade failed, or CloseAll had begun).
func (reg *Registry) Reserve(sessionID string) bool {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.perSession[sessionID] >= MaxPerSession {
		return false
	}
	if reg.perSession == nil {
		reg.perSession = make(map[string]int)
	}
	reg.perSession[sessionID]++
	return true
}

// Unreserve gives back a place Reserve claimed for a socket that is not held.
func (reg *Registry) Unreserve(sessionID string) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	reg.unreserve(sessionID)
}

// unreserve is Unreserve with reg.mu held.
func (reg *Registry) unreserve(sessionID string) {
	if n := reg.perSession[sessionID]; n > 1 {
		reg.perSession[sessionID] = n - 1
	} else {
		delete(reg.perSession, sessionID)
	}
}
