package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v4"

	"github.com/keelhq/keel/api"
)

// second is an independent reading of the same document, so that a mistake
// kin-openapi shares with the server cannot hide: the YAML parsed here with
// go.yaml.in/yaml, the operation found by this file's own path matching, and
// each body checked by santhosh-tekuri/jsonschema (draft 4, format assertions
// on, email by checkAddrSpec) against the document loaded as one JSON-Schema
// resource, so `$ref: '#/components/...'` resolves as a JSON pointer in it.
// It replaced pb33f's libopenapi-validator, which was half of the test
// build's compile time, for a library kin-openapi already compiles.
//
// Where OpenAPI 3.0's schema object reads differently from draft 4 (checked
// against api/openapi.yaml): `nullable`, `discriminator`, `readOnly` and
// `writeOnly` mean nothing to draft 4, and the document uses none of them;
// `example`, `x-*` and unknown formats (int64, password, binary) are ignored,
// as draft 4 ignores unknown keywords and this library unknown formats; the
// document has no `$ref` with siblings (both ignore them), no oneOf/anyOf,
// and no exclusiveMinimum/Maximum (boolean in both). Status ranges ("4XX")
// and media-type ranges in `content` are not read: the document has none.
type second struct {
	doc map[string]any
	c   *jsonschema.Compiler

	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema // by pointer into docURL
}

const docURL = "keel:///openapi.json"

func newSecond() (*second, error) {
	var raw any
	if err := yaml.Unmarshal(api.YAML, &raw); err != nil {
		return nil, fmt.Errorf("second reading: %w", err)
	}
	v, err := jsonValue(raw)
	if err != nil {
		return nil, fmt.Errorf("second reading: %w", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("second reading: the document is not an object")
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	c.AssertFormat() // draft 4 asserts formats anyway; explicit so a later draft keeps it. date-time is RFC 3339; int64, password, binary are unknown, so ignored
	c.RegisterFormat(&jsonschema.Format{Name: "email", Validate: func(v any) error {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		return checkAddrSpec(s)
	}})
	if err := c.AddResource(docURL, doc); err != nil {
		return nil, fmt.Errorf("second reading: %w", err)
	}
	return &second{doc: doc, c: c, schemas: map[string]*jsonschema.Schema{}}, nil
}

// jsonValue turns what the YAML decoder gives into the values
// jsonschema.UnmarshalJSON would have: string-keyed maps, []any, json.Number.
func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			j, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			m[k] = j
		}
		return m, nil
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			j, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = j
		}
		return m, nil
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			j, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			a[i] = j
		}
		return a, nil
	case nil, string, bool:
		return v, nil
	case int:
		return json.Number(strconv.Itoa(v)), nil
	case int64:
		return json.Number(strconv.FormatInt(v, 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(v, 10)), nil
	case float64:
		return json.Number(strconv.FormatFloat(v, 'g', -1, 64)), nil
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	default:
		return nil, fmt.Errorf("a YAML value of type %T has no JSON form", v)
	}
}

// check validates a JSON response to a documented operation.
func (s *second) check(req *http.Request, status int, header http.Header, body []byte) error {
	ct := header.Get("Content-Type")
	if !strings.Contains(ct, "json") || req.Method == http.MethodHead {
		return nil // the meta routes' HTML, YAML, text and images: kin-openapi's reading suffices
	}
	off := func(format string, args ...any) error {
		return fmt.Errorf("%s %s → %d is off-spec for the second reading: %s\nbody: %.500s",
			req.Method, req.URL.Path, status, fmt.Sprintf(format, args...), body)
	}
	tmpl, ok := s.route(req.URL)
	if !ok {
		return off("no path in the document matches %q", req.URL.Path)
	}
	ptr := "/paths/" + escape(tmpl)
	method := strings.ToLower(req.Method)
	if _, ok := s.at(ptr + "/" + method).(map[string]any); !ok {
		return off("%s has no %s operation", tmpl, req.Method)
	}
	ptr += "/" + method + "/responses"
	code := strconv.Itoa(status)
	if _, ok := s.at(ptr + "/" + code).(map[string]any); ok {
		ptr += "/" + code
	} else if _, ok := s.at(ptr + "/default").(map[string]any); ok {
		ptr += "/default"
	} else {
		return off("%s %s documents no %d response", req.Method, tmpl, status)
	}
	ptr, err := s.deref(ptr)
	if err != nil {
		return off("%v", err)
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return off("Content-Type %q: %v", ct, err)
	}
	content, _ := s.at(ptr + "/content").(map[string]any)
	key := ""
	for k := range content {
		if strings.EqualFold(k, mt) {
			key = k
		}
	}
	if key == "" {
		documented := make([]string, 0, len(content))
		for k := range content {
			documented = append(documented, k)
		}
		sort.Strings(documented)
		return off("media type %q is not documented for it (documented: %v)", mt, documented)
	}
	ptr += "/content/" + escape(key)
	val, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return off("the body is not JSON: %v", err)
	}
	if _, ok := s.at(ptr + "/schema").(map[string]any); !ok {
		return nil // any JSON at all
	}
	sch, err := s.schema(ptr + "/schema")
	if err != nil {
		return off("compiling %s: %v", ptr+"/schema", err)
	}
	if err := sch.Validate(val); err != nil {
		return off("%v", err)
	}
	return nil
}

// route finds the path template u matches: segment by segment, a `{name}`
// template segment matching any one non-empty segment, and where several
// templates match, the one whose first differing segment is literal (OpenAPI
// 3.0: "concrete paths are matched before their templated counterparts").
func (s *second) route(u *url.URL) (string, bool) {
	got := strings.Split(u.EscapedPath(), "/")
	for i, seg := range got {
		if p, err := url.PathUnescape(seg); err == nil {
			got[i] = p
		}
	}
	paths, _ := s.doc["paths"].(map[string]any)
	var best string
	var bestSegs []string
	for tmpl := range paths {
		segs := strings.Split(tmpl, "/")
		if len(segs) != len(got) {
			continue
		}
		match := true
		for i, seg := range segs {
			if isParam(seg) {
				match = got[i] != ""
			} else {
				match = seg == got[i]
			}
			if !match {
				break
			}
		}
		if match && (bestSegs == nil || moreLiteral(segs, bestSegs)) {
			best, bestSegs = tmpl, segs
		}
	}
	return best, bestSegs != nil
}

func isParam(seg string) bool {
	return len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}'
}

// moreLiteral reports whether a is more concrete than b, two templates of the
// same length that match one path: at their first difference, a is literal.
func moreLiteral(a, b []string) bool {
	for i := range a {
		if pa, pb := isParam(a[i]), isParam(b[i]); pa != pb {
			return pb
		}
	}
	return false
}

// at returns the document's value at a JSON pointer, or nil.
func (s *second) at(ptr string) any {
	var v any = s.doc
	for _, tok := range strings.Split(ptr, "/")[1:] {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")]
	}
	return v
}

// deref follows a response object's local `$ref`s to the response itself.
func (s *second) deref(ptr string) (string, error) {
	for range 10 {
		m, _ := s.at(ptr).(map[string]any)
		ref, ok := m["$ref"].(string)
		if !ok {
			return ptr, nil
		}
		if !strings.HasPrefix(ref, "#/") {
			return "", fmt.Errorf("%s: $ref %q is not local to the document", ptr, ref)
		}
		if _, ok := s.at(ref[1:]).(map[string]any); !ok {
			return "", fmt.Errorf("%s: $ref %q names nothing", ptr, ref)
		}
		ptr = ref[1:]
	}
	return "", fmt.Errorf("%s: $ref chain too long", ptr)
}

func escape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// schema compiles the schema at ptr once.
func (s *second) schema(ptr string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.schemas[ptr]; ok {
		return sch, nil
	}
	// A JSON pointer in a URL fragment is percent-encoded where a URI needs it.
	frag := (&url.URL{Fragment: ptr}).EscapedFragment()
	sch, err := s.c.Compile(docURL + "#" + frag)
	if err != nil {
		return nil, err
	}
	s.schemas[ptr] = sch
	return sch, nil
}
