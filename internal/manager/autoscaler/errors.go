package autoscaler

import "errors"

// ErrInvalidInput is returned, wrapped with the name of the offending field, when an Input cannot be decided on.
var ErrInvalidInput = errors.New("invalid autoscaler input")

// ErrCloudDown is returned, wrapped with the cause, by a tick whose cloud controller did not answer: the
// tick decided nothing, so nothing was launched or terminated. The loop logs it when the controller goes
// down and when it answers again, not on every tick.
var ErrCloudDown = errors.New("cloud controller down")
