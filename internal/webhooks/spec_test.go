package webhooks

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/keelhq/keel/api"
	"github.com/keelhq/keel/db"
)

// TestTypesInSpecAndDocs: the webhook types are one list in three places
// that must agree. The spec's WebhookEvent is a oneOf with a `type`
// discriminator naming exactly Types, each a schema whose `type` is that
// one value (so the generated Go and TypeScript clients have each), and
// WebhookType (what an endpoint subscribes to) lists them too. Every
// recorded event that is sent makes a payload the spec accepts. And
// docs/webhooks.md has a row for each type whose example body is a
// payload of that type the spec accepts.
func TestTypesInSpecAndDocs(t *testing.T) {
	spec, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	event := spec.Components.Schemas["WebhookEvent"].Value
	if event.Discriminator == nil || event.Discriminator.PropertyName != "type" {
		t.Fatalf("WebhookEvent's discriminator %+v, want one on type", event.Discriminator)
	}
	var mapped []string
	for typ, ref := range event.Discriminator.Mapping {
		mapped = append(mapped, typ)
		name := strings.TrimPrefix(ref.Ref, "#/components/schemas/")
		s := spec.Components.Schemas[name]
		if s == nil || !slices.Contains(event.OneOf, s) && !slices.ContainsFunc(event.OneOf, func(o *openapi3.SchemaRef) bool { return o.Ref == ref.Ref }) {
			t.Errorf("%s maps to %s, not one of WebhookEvent's oneOf", typ, ref.Ref)
			continue
		}
		p := s.Value.Properties["type"]
		if p == nil || len(p.Value.Enum) != 1 || p.Value.Enum[0] != typ || !slices.Contains(s.Value.Required, "type") {
			t.Errorf("%s: its schema %s has no required type of that one value", typ, name)
		}
	}
	slices.Sort(mapped)
	sorted := slices.Sorted(slices.Values(Types))
	if !slices.Equal(mapped, sorted) || len(event.OneOf) != len(Types) {
		t.Errorf("WebhookEvent maps %v (%d in oneOf), want Types %v", mapped, len(event.OneOf), sorted)
	}
	var enum []string
	for _, v := range spec.Components.Schemas["WebhookType"].Value.Enum {
		enum = append(enum, v.(string))
	}
	if !slices.Equal(enum, Types) {
		t.Errorf("WebhookType's enum %v, want Types %v in their order", enum, Types)
	}

	valid := func(body []byte) error {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		return event.VisitJSON(v)
	}
	for recorded := range fromRecorded {
		_, body, err := Payload(db.Event{ID: 1000, Type: recorded, CreatedAt: time.Now(), UserID: 42, Actor: "user:42", Data: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := valid(body); err != nil {
			t.Errorf("the payload of %s, %s, is not a WebhookEvent: %v", recorded, body, err)
		}
	}

	doc, err := os.ReadFile("../../docs/webhooks.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range Types {
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(typ) + "` \\|.*\\| `(\\{.*\\})` \\|$").FindSubmatch(doc)
		if row == nil {
			t.Errorf("docs/webhooks.md has no row for %s with an example body", typ)
			continue
		}
		var p struct{ Type string }
		if err := json.Unmarshal(row[1], &p); err != nil || p.Type != typ {
			t.Errorf("docs/webhooks.md: the example of %s is of type %q (%v)", typ, p.Type, err)
		}
		if err := valid(row[1]); err != nil {
			t.Errorf("docs/webhooks.md: the example of %s, %s, is not a WebhookEvent: %v", typ, row[1], err)
		}
	}
}
