package claims

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		setting string
		want    Names
		bad     bool
	}{
		{setting: "", want: nil},
		{setting: "  ", want: nil},
		{setting: "tenant", want: Names{"tenant"}},
		{setting: " tenant , plan,org_id ", want: Names{"tenant", "plan", "org_id"}},
		{setting: "tenant,,plan", bad: true},
		{setting: "tenant,tenant", bad: true},
		{setting: "plan,roles", bad: true},
		{setting: "sub", bad: true},
		{setting: "Sub", bad: true},
		{setting: "tenant,aal", bad: true},
		{setting: "email", bad: true},
		{setting: "scope", bad: true},
		{setting: "client_id", bad: true},
		{setting: "has space", bad: true},
	} {
		got, err := ParseNames(tc.setting)
		if (err != nil) != tc.bad {
			t.Errorf("ParseNames(%q): %v, want bad=%v", tc.setting, err, tc.bad)
			continue
		}
		if diff := cmp.Diff(tc.want, got); !tc.bad && diff != "" {
			t.Errorf("ParseNames(%q) (-want +got):\n%s", tc.setting, diff)
		}
	}
}

func roles(n, size int) string {
	r := make([]string, n)
	for i := range r {
		r[i] = strings.Repeat("r", size)
	}
	b, _ := json.Marshal(r)
	return string(b)
}

// raw is the listed claims of c as JSON text, for comparison.
func raw(c Claims) map[string]string {
	if c.Listed == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range c.Listed {
		out[k] = string(v)
	}
	return out
}

func TestPickAndValidate(t *testing.T) {
	t.Parallel()
	names := Names{"tenant", "plan"}
	big := `"` + strings.Repeat("x", MaxListedBytes) + `"`
	for _, tc := range []struct {
		name        string
		appMetadata string
		roles       []string
		listed      map[string]string
		// leftOut is what Pick leaves out; the first is Validate's field.
		leftOut []string
	}{
		{name: "empty", appMetadata: `{}`},
		{name: "empty text", appMetadata: ``},
		{name: "roles and listed", appMetadata: `{"roles":["editor","billing"],"tenant":"acme","plan":{"tier": 2},"other":1}`,
			roles: []string{"editor", "billing"}, listed: map[string]string{"tenant": `"acme"`, "plan": `{"tier":2}`}},
		{name: "unlisted keys stay out", appMetadata: `{"secret":"x","other":[1]}`},
		{name: "null values are absent", appMetadata: `{"roles":null,"tenant":null}`},
		{name: "empty roles", appMetadata: `{"roles":[]}`, roles: []string{}},
		{name: "50 roles of 64", appMetadata: `{"roles":` + roles(MaxRoles, MaxRoleLen) + `}`,
			roles: strings.Fields(strings.Repeat(strings.Repeat("r", MaxRoleLen)+" ", MaxRoles))},
		{name: "51 roles", appMetadata: `{"roles":` + roles(MaxRoles+1, 1) + `,"tenant":"acme"}`,
			listed: map[string]string{"tenant": `"acme"`}, leftOut: []string{"/roles"}},
		{name: "a role of 65", appMetadata: `{"roles":["a",` + roles(1, MaxRoleLen+1)[1:] + `}`, leftOut: []string{"/roles/1"}},
		{name: "an empty role", appMetadata: `{"roles":["a",""]}`, leftOut: []string{"/roles/1"}},
		{name: "roles not strings", appMetadata: `{"roles":["a",1]}`, leftOut: []string{"/roles"}},
		{name: "roles a string", appMetadata: `{"roles":"admin"}`, leftOut: []string{"/roles"}},
		{name: "listed over 4 KiB", appMetadata: `{"roles":["a"],"tenant":"acme","plan":` + big + `}`,
			roles: []string{"a"}, leftOut: []string{""}},
		{name: "not an object", appMetadata: `[1]`, leftOut: []string{""}},
		{name: "not JSON", appMetadata: `{`, leftOut: []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, leftOut := names.Pick(tc.appMetadata)
			if diff := cmp.Diff(tc.roles, c.Roles); diff != "" {
				t.Errorf("roles (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.listed, raw(c)); diff != "" {
				t.Errorf("listed (-want +got):\n%s", diff)
			}
			var fields []string
			for _, p := range leftOut {
				fields = append(fields, p.Field)
			}
			if diff := cmp.Diff(tc.leftOut, fields); diff != "" {
				t.Errorf("left out (-want +got):\n%s", diff)
			}
			err := names.Validate([]byte(tc.appMetadata))
			if tc.appMetadata == "" {
				return // Pick's empty column; a PATCH sends JSON
			}
			var e *Error
			switch {
			case len(tc.leftOut) == 0 && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case len(tc.leftOut) > 0 && !errors.As(err, &e):
				t.Errorf("Validate: %v, want an *Error", err)
			case len(tc.leftOut) > 0 && e.Field != tc.leftOut[0]:
				t.Errorf("Validate's field %q, want %q", e.Field, tc.leftOut[0])
			}
		})
	}
}

func TestClaimsMap(t *testing.T) {
	t.Parallel()
	c, _ := Names{"tenant"}.Pick(`{"roles":["a"],"tenant":{"id":7}}`)
	b, err := json.Marshal(c.Map())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"roles":["a"],"tenant":{"id":7}}`; got != want {
		t.Errorf("Map as JSON: %s, want %s", got, want)
	}
	if m := (Claims{}).Map(); len(m) != 0 {
		t.Errorf("empty Claims' Map: %v, want none", m)
	}
}
