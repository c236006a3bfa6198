package server

import (
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/keelhq/keel/gen/oapi"
)

// TestPasskeyNames: a passkey's name is shown back to its owner (GET
// /passkeys, mails), so control and bidirectional formatting characters are
// refused at registration and rename with 400 naming the field: U+202E
// would show "\u202Egnp.exe" as "exe.png". Other Unicode is kept as given.
func TestPasskeyNames(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, tok := a.passkeyAccount("ada@example.com")
	pk := decode[[]oapi.Passkey](t, a.status(a.do("GET", "/passkeys", "", bearer(tok)...), 200, "GET /passkeys"))[0]
	refusedAt := func(rec *httptest.ResponseRecorder, what string) {
		t.Helper()
		a.status(rec, 400, what)
		if p := problemOf(t, rec); p.Errors == nil || (*p.Errors)[0].Field != "/name" {
			t.Errorf("%s: %s, want the field /name named", what, rec.Body)
		}
	}
	for _, name := range []string{"\u202Egnp.exe", "phone\u2066 (work)\u2069", "\u200Fphone", "phone\n2", "phone\x00", "phone\u0085", "phone\u2028"} {
		body, _ := json.Marshal(map[string]string{"name": name})
		refusedAt(a.do("PATCH", "/passkeys/"+pk.ID, string(body), bearer(tok)...), "rename to "+strconv.Quote(name))
		body, _ = json.Marshal(map[string]any{"flow_id": "x", "name": name, "credential": map[string]string{"id": "x"}})
		refusedAt(a.do("POST", "/passkeys/register", string(body), bearer(tok)...), "register as "+strconv.Quote(name))
	}
	for _, name := range []string{"Téléphone d'Adèle", "手机 📱", "טלפון"} {
		body, _ := json.Marshal(map[string]string{"name": name})
		if got := decode[oapi.Passkey](t, a.status(a.do("PATCH", "/passkeys/"+pk.ID, string(body), bearer(tok)...), 200, "rename")); got.Name != name {
			t.Errorf("renamed to %q, got %q", name, got.Name)
		}
	}
}
