package server

import (
	"net/http"
	"strconv"
	"testing"
)

// TestAdminUserMetadataAsStored: an admin reads an account's metadata as
// it is kept: a large integer, a number below float64's range and a NUL
// escape come back as stored, not rounded through float64 or dropped (an
// admin who writes back what they read must not change what they did not
// touch).
func TestAdminUserMetadataAsStored(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	pair, _ := a.adminAccount("root@example.com")
	a.mustRegister("ada@example.com", "correct horse")
	ada := a.userID("ada@example.com")
	const (
		app  = `{"account":12345678901234567890,"roles":["editor"]}`
		user = `{"a":"\u0000","tiny":1e-1000000,"x":0.1}`
	)
	a.setAppMetadata(ada, app)
	a.db.exec(t, `UPDATE users SET user_metadata = '%s' WHERE id = %d`, user, ada)
	type metadata struct {
		AppMetadata  jsonText `json:"app_metadata"`
		UserMetadata jsonText `json:"user_metadata"`
	}
	got := decode[metadata](t, a.status(a.do("GET", "/admin/users/"+strconv.FormatInt(ada, 10), "", bearer(pair.Token)...),
		http.StatusOK, "GET /admin/users/{id}"))
	if string(got.AppMetadata) != app || string(got.UserMetadata) != user {
		t.Errorf("the admin's view:\n app_metadata %s\nuser_metadata %s\nwant\n app_metadata %s\nuser_metadata %s",
			got.AppMetadata, got.UserMetadata, app, user)
	}
}

// jsonText is a JSON value's text, as received.
type jsonText []byte

func (j *jsonText) UnmarshalJSON(b []byte) error { *j = append((*j)[:0], b...); return nil }
