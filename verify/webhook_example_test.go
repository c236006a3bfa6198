package verify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/keelhq/keel/verify"
)

// receiveWebhooks answers keel's deliveries: 401 to one that does not
// verify (keel tries it again later, and then marks it failed), 2xx to one
// handled. The body is read whole before it is parsed: the signature is over
// its very bytes.
func receiveWebhooks(v *verify.WebhookVerifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read", http.StatusBadRequest)
			return
		}
		if err := v.Verify(r.Header, body); errors.Is(err, verify.ErrInvalidWebhook) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var event struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "not an event", http.StatusBadRequest)
			return
		}
		// webhook-id is the same on each attempt: skip one already handled.
		fmt.Fprintf(w, "%s %s\n", r.Header.Get("webhook-id"), event.Type)
	})
}

// A service behind keel receives its webhooks, knowing the endpoint's
// signing secret (shown once when the endpoint was registered).
func ExampleWebhookVerifier() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // from POST /admin/webhooks
	v, err := verify.NewWebhookVerifier(secret)
	if err != nil {
		log.Fatal(err)
	}
	h := receiveWebhooks(v)

	body := `{"type":"user.created","timestamp":"2026-12-07T06:00:00Z","data":{"user_id":"42","sequence":1}}`
	for _, key := range []string{secret, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"} {
		req := exampleDelivery(key, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", body)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 200 msg_2KWPBgLlAfxdpx2AI54pPJ85f4W user.created
	// 401 bad signature
}

// exampleDelivery is a request as keel sends it, signed with secret now.
func exampleDelivery(secret, id, body string) *http.Request {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + body))
	req := httptest.NewRequest(http.MethodPost, "/webhooks/keel", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return req
}
