package ws

import (
	"net/http"
	"strings"
)

// BearerProtocol is the subprotocol a client names to send an access token:
// a browser cannot set Authorization on a WebSocket, but it can list
// subprotocols, so the token travels as the one after this name
// (Sec-WebSocket-Protocol: bearer, <token>). keel answers with this name
// alone, never the token.
const BearerProtocol = "bearer"

// BearerToken reads the token a handshake carries in Sec-WebSocket-Protocol.
// ok is false when the client did not name BearerProtocol (an anonymous
// socket); tok is "" when it named it without a token after it.
func BearerToken(h http.Header) (tok string, ok bool) {
	var protocols []string
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			protocols = append(protocols, strings.TrimSpace(p))
		}
	}
	for i, p := range protocols {
		if p == BearerProtocol {
			if i+1 < len(protocols) {
				return protocols[i+1], true
			}
			return "", true
		}
	}
	return "", false
}
