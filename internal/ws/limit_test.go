package ws

import "testing"

// TestReserve: a session gets MaxPerSession places, no more; a place given
// back can be claimed again; sessions count apart; nothing is left behind.
func TestReserve(t *testing.T) {
	t.Parallel()
	var reg Registry
	for i := range MaxPerSession {
		if !reg.Reserve("s") {
			t.Fatalf("place %d refused", i+1)
		}
	}
	if reg.Reserve("s") {
		t.Fatal("a place past MaxPerSession")
	}
	if !reg.Reserve("other") {
		t.Fatal("another session refused")
	}
	reg.Unreserve("s")
	if !reg.Reserve("s") {
		t.Fatal("a place given back is refused")
	}
	for range MaxPerSession {
		reg.Unreserve("s")
	}
	reg.Unreserve("other")
	if len(reg.perSession) != 0 {
		t.Errorf("left behind: %v", reg.perSession)
	}
}
