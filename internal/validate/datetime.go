package validate

import (
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// dateTimeFormat is keel's reading of the spec's `format: date-time`, given
// to the request validator alone (as emailFormat): kin-openapi's own check,
// then DateTime's range.
var dateTimeFormat = openapi3.WithStringFormatValidator("date-time", openapi3.NewCallbackValidator(func(s string) error {
	if f, ok := openapi3.SchemaStringFormats["date-time"]; ok {
		if err := f.Validate(s); err != nil {
			return err
		}
	}
	return DateTime(s)
}))

// DateTime accepts an RFC 3339 time whose UTC instant falls in the years
// 0000 to 9999, the times Go writes as JSON: an offset may carry
// 9999-12-31T23:59:59-23:59 into year 10000 (or 0000-01-01T00:00:00+00:01
// into year -1), and a ban until then, or an imported account created
// then, was a 500 wherever it was shown (its event could not be written;
// GET /profile and GET /admin/users could not answer).
func DateTime(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return formatError("must be an RFC 3339 time such as 2026-12-07T09:30:00Z")
	}
	return TimeInRange(t)
}

// TimeInRange refuses a time outside the years 0000 to 9999 in UTC.
func TimeInRange(t time.Time) error {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return formatError("must be between 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z")
	}
	return nil
}
