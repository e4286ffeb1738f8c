package store

import (
	"errors"
	"fmt"

	"github.com/nagare-video/nagare/internal/sqldb"
)

// Errors returned by the store; callers test them with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrInUse is returned when deleting an object that others refer to.
	ErrInUse = errors.New("in use")
	// ErrReference is returned when an object names another that does not exist.
	ErrReference = errors.New("refers to a missing object")
	// ErrStateConflict is returned when a node is not in the state a transition expects.
	ErrStateConflict = errors.New("state conflict")
	// ErrInvalid is returned, as a *FieldError, when a value does not fit the store (see limits.go).
	ErrInvalid = errors.New("invalid value")
	// ErrUnavailable is returned when the database does not answer within the call's deadline or cannot
	// be reached; the call may be retried later.
	ErrUnavailable = sqldb.ErrUnavailable
)

// FieldError says which field is longer than the store keeps. It wraps ErrInvalid.
type FieldError struct {
	// Field is named as the API names it: "version", "targets.instanceType", "properties.key" …
	Field string
	// Limit is the most bytes the field may hold; Len is how many it had.
	Limit, Len int
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s is %d bytes long, more than the %d allowed", e.Field, e.Len, e.Limit)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }
