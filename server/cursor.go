package server

// Cursors of the listings that page by a row's id (events newest first,
// users oldest first): opaque to clients, so that what they hold can change
// without breaking them, and checked, so that a made-up one is a 400, not a
// surprise. Each listing's cursors have a first byte of their own: one
// listing's cursor given to another is a 400 too, not a page of the wrong
// rows.

import (
	"encoding/base64"
	"encoding/binary"
	"net/http"
)

// The first byte of a cursor, which listing gave it: what follows is the
// last id of the page before, 8 bytes big endian.
const (
	eventCursor byte = 'e' // GET /profile/activity, GET /admin/audit
	userCursor  byte = 'u' // GET /admin/users
)

var errBadCursor = &Error{Status: http.StatusBadRequest, Detail: "cursor: not a cursor keel gave (pass a page's next_cursor as it is)"}

// encodeCursor is the event listings' cursor of the page after the one
// whose last row has id.
func encodeCursor(id int64) string { return encodeCursorOf(eventCursor, id) }

// decodeCursor is the id an event listing's cursor pages below; 0 (from
// the newest) for none.
func decodeCursor(c *string) (int64, error) { return decodeCursorOf(eventCursor, c) }

// encodeCursorOf is the cursor of the listing kind after a page whose last
// row has id.
func encodeCursorOf(kind byte, id int64) string {
	b := make([]byte, 9)
	b[0] = kind
	binary.BigEndian.PutUint64(b[1:], uint64(id))
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursorOf is the id a cursor of the listing kind pages past; 0 (the
// first page) for none.
func decodeCursorOf(kind byte, c *string) (int64, error) {
	if c == nil {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*c)
	if err != nil || len(b) != 9 || b[0] != kind {
		return 0, errBadCursor
	}
	id := int64(binary.BigEndian.Uint64(b[1:]))
	if id <= 0 {
		return 0, errBadCursor
	}
	return id, nil
}

// defaultPageSize is a page's size when the request gives no limit.
const defaultPageSize = 50

// pageSize is the request's limit (which the spec bounds), or the default.
func pageSize(limit *int) int {
	if limit == nil {
		return defaultPageSize
	}
	return *limit
}
