package store

import "errors"

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
)
