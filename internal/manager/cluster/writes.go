package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// Write is one store write that a change needs before it may reach memory.
type Write interface {
	write(ctx context.Context, s nodeStore) error
}

// WriteCreate stores a new node with its first lifecycle event.
type WriteCreate struct {
	Node  store.Node
	Cause string
}

func (w WriteCreate) write(ctx context.Context, s nodeStore) error {
	_, err := s.CreateNode(ctx, w.Node, w.Cause)
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%w: node %s registered twice at once", nodeapi.ErrConflict, w.Node.ID)
	}
	return err
}

// WriteInfo stores what a node said of itself when it registered (addresses, version, region, zone).
type WriteInfo struct{ Node store.Node }

func (w WriteInfo) write(ctx context.Context, s nodeStore) error {
	return s.UpdateNodeInfo(ctx, w.Node)
}

// WriteTransition moves a node to To, if the store has it in one of From (any state if From is empty).
type WriteTransition struct {
	ID    string
	To    nodemodel.State
	Cause string
	From  []nodemodel.State
}

func (w WriteTransition) write(ctx context.Context, s nodeStore) error {
	_, err := s.Transition(ctx, w.ID, w.To, w.Cause, w.From...)
	return err
}

// WriteReport stores a node's load report.
type WriteReport struct {
	ID    string
	Stats store.NodeStats
	At    time.Time
}

func (w WriteReport) write(ctx context.Context, s nodeStore) error {
	return s.SaveReport(ctx, w.ID, w.Stats, w.At)
}

// WriteStream records a live stream on a node.
type WriteStream struct{ Record store.StreamRecord }

func (w WriteStream) write(ctx context.Context, s nodeStore) error { return s.PutStream(ctx, w.Record) }

// WriteStreamGone deletes a stream record.
type WriteStreamGone struct{ Name, NodeID string }

func (w WriteStreamGone) write(ctx context.Context, s nodeStore) error {
	return s.DeleteStream(ctx, w.Name, w.NodeID)
}

// WriteParent stores the parent an edge or relay pulls from.
type WriteParent struct{ ID, Parent string }

func (w WriteParent) write(ctx context.Context, s nodeStore) error {
	return s.SetParent(ctx, w.ID, w.Parent)
}
