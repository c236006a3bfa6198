package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Bodies that encoding/json would accept but read in a way the client may
// not mean. Invalid UTF-8 would silently become U+FFFD (changing a password
// without a word); with a duplicate key, the last one silently wins; data
// after the JSON value would be ignored. CheckJSON refuses them all (no
// library of the standard set does: encoding/json and kin-openapi accept
// all three). Their texts are what a client is told.
var (
	ErrInvalidUTF8  = errors.New("the request body is not valid UTF-8")
	ErrDuplicateKey = errors.New("the request body repeats a key in one object")
	ErrTrailingData = errors.New("the request body has data after its JSON value")
	// ErrBadUnicode: a lone surrogate escape such as \ud800 also decodes to U+FFFD.
	ErrBadUnicode = errors.New("the request body has an invalid Unicode escape or a U+FFFD replacement character")
	// ErrTooDeep: keel's bodies are flat objects; refusing deep nesting
	// early keeps the check's recursion (and the goroutine stack) small.
	ErrTooDeep = errors.New("the request body nests objects or arrays too deeply")
)

// MaxDepth is the deepest nesting of objects and arrays CheckJSON reads.
const MaxDepth = 32

// BodyError is a request body refused before the spec's validation: not
// readable, or JSON that CheckJSON refuses. Detail is what the client is told.
type BodyError struct{ Detail string }

func (e *BodyError) Error() string { return e.Detail }

// readJSONBody reads the request body (the caller has bounded it), refuses
// what CheckJSON refuses, and leaves the bytes for the validator and the
// handler to read again. It runs before openapi3filter rather than as a
// kin-openapi body decoder, which would be a process-wide registration.
func readJSONBody(req *http.Request) error {
	if req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	data, err := io.ReadAll(req.Body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return err
	case err != nil:
		return &BodyError{"the request body could not be read"}
	}
	req.Body = io.NopCloser(bytes.NewReader(data))
	if len(data) == 0 {
		return nil // the validator says whether a body is required
	}
	if err := CheckJSON(data); err != nil {
		if isStrictnessError(err) {
			return &BodyError{err.Error()}
		}
		return &BodyError{"the request body is not valid JSON"}
	}
	return nil
}

func isStrictnessError(err error) bool {
	switch err {
	case ErrInvalidUTF8, ErrDuplicateKey, ErrTrailingData, ErrBadUnicode, ErrTooDeep:
		return true
	}
	return false
}

// CheckJSON refuses what encoding/json would read ambiguously (the Err*
// above), and nesting past MaxDepth. A syntax error stops it too, with
// encoding/json's error.
func CheckJSON(data []byte) error {
	if !utf8.Valid(data) {
		return ErrInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := checkValue(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return ErrTrailingData
	}
	return nil
}

// checkValue reads one JSON value from dec, refusing duplicate keys.
func checkValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') && depth >= MaxDepth {
		return ErrTooDeep
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := key.(string)
			if seen[k] {
				return ErrDuplicateKey
			}
			if strings.ContainsRune(k, utf8.RuneError) {
				return ErrBadUnicode
			}
			seen[k] = true
			if err := checkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		for dec.More() {
			if err := checkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	if s, ok := tok.(string); ok && strings.ContainsRune(s, utf8.RuneError) {
		return ErrBadUnicode
	}
	return nil
}
