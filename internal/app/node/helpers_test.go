package node_test

import (
	"errors"
	"io"
	"log/slog"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func newLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
