package contract

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"

	"github.com/keelhq/keel/api"
)

// second is an independent reading of the same document by another library
// (pb33f's libopenapi-validator, with format assertions and its own email
// rule), so that a mistake kin-openapi shares with the server cannot hide.
type second struct {
	v validator.Validator
}

func newSecond() (*second, error) {
	doc, err := libopenapi.NewDocument(api.YAML)
	if err != nil {
		return nil, err
	}
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions(),
		config.WithCustomFormat("email", func(v any) error {
			s, _ := v.(string)
			return checkAddrSpec(s)
		}))
	if len(errs) > 0 {
		return nil, fmt.Errorf("libopenapi-validator: %v", errs)
	}
	return &second{v: v}, nil
}

// check validates a JSON response to a documented operation.
func (s *second) check(req *http.Request, status int, header http.Header, body []byte) error {
	if !strings.Contains(header.Get("Content-Type"), "json") || req.Method == http.MethodHead {
		return nil // the meta routes' HTML, YAML, text and images: kin-openapi's reading suffices
	}
	res := &http.Response{
		StatusCode: status, Header: header, Request: req,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
	}
	if ok, errs := s.v.ValidateHttpResponse(req, res); !ok {
		var b strings.Builder
		for _, e := range errs {
			fmt.Fprintf(&b, "\n  %s", e.Message)
			if e.Reason != "" {
				fmt.Fprintf(&b, ": %s", e.Reason)
			}
			for _, se := range e.SchemaValidationErrors {
				fmt.Fprintf(&b, "\n    %s: %s", se.FieldPath, se.Reason)
			}
		}
		return fmt.Errorf("%s %s → %d is off-spec for libopenapi-validator:%s\nbody: %.500s", req.Method, req.URL.Path, status, b.String(), body)
	}
	return nil
}
