package autoscaler

import "errors"

// ErrInvalidInput is returned, wrapped with the name of the offending field, when an Input cannot be decided on.
var ErrInvalidInput = errors.New("invalid autoscaler input")
