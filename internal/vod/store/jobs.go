package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nagare-video/nagare/internal/sqldb"
)

// Job states.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// Job is a video's processing, claimed by one worker at a time under a lease.
type Job struct {
	VideoID    string
	State      string
	Attempts   int
	NextAt     time.Time
	LeaseUntil time.Time
	Worker     string
	Error      string
}

const jobColumns = `video_id, state, attempts, next_at, lease_until, worker, error`

func scanJob(r sqldb.Scanner) (Job, error) {
	var j Job
	var next, lease int64
	err := r.Scan(&j.VideoID, &j.State, &j.Attempts, &next, &lease, &j.Worker, &j.Error)
	j.NextAt, j.LeaseUntil = sqldb.FromMS(next), sqldb.FromMS(lease)
	return j, err
}

// ClaimJob gives worker the oldest job that is due: queued and past its retry time, or running under a
// lease that expired (its worker died with the process). The lease lasts until lease; ok is false when no
// job is due.
func (s *SQL) ClaimJob(ctx context.Context, worker string, lease time.Duration) (job Job, ok bool, err error) {
	err = s.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		now := s.now()
		lock := s.ForUpdate()
		if lock != "" {
			lock += " SKIP LOCKED"
		}
		j, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM vod_jobs
			WHERE (state = ? AND next_at <= ?) OR (state = ? AND lease_until < ?)
			ORDER BY next_at LIMIT 1`+lock, JobQueued, now, JobRunning, now))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		j.State, j.Attempts, j.Worker = JobRunning, j.Attempts+1, worker
		j.LeaseUntil = sqldb.FromMS(now).Add(lease)
		if _, err := tx.ExecContext(ctx, `UPDATE vod_jobs SET state = ?, attempts = ?, lease_until = ?, worker = ?,
			updated_at = ? WHERE video_id = ?`, j.State, j.Attempts, sqldb.MS(j.LeaseUntil), worker, now, j.VideoID); err != nil {
			return err
		}
		job, ok = j, true
		return nil
	})
	return job, ok, err
}

// RenewJob extends worker's lease; ErrConflict says the job is no longer worker's.
func (s *SQL) RenewJob(ctx context.Context, id, worker string, lease time.Duration) error {
	res, err := s.Exec(ctx, `UPDATE vod_jobs SET lease_until = ?, updated_at = ? WHERE video_id = ? AND worker = ? AND state = ?`,
		sqldb.MS(s.Now().Add(lease)), s.now(), id, worker, JobRunning)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("job %q: not held by %s: %w", id, worker, ErrConflict)
	}
	return nil
}

// EndJob ends worker's job: done (the video was updated by the caller), failed for good, or, when retryAt
// is not zero, queued again for then.
func (s *SQL) EndJob(ctx context.Context, id, worker, state, msg string, retryAt time.Time) error {
	next := int64(0)
	if !retryAt.IsZero() {
		state, next = JobQueued, sqldb.MS(retryAt)
	}
	res, err := s.Exec(ctx, `UPDATE vod_jobs SET state = ?, next_at = ?, lease_until = 0, worker = '', error = ?, updated_at = ?
		WHERE video_id = ? AND worker = ?`, state, next, msg, s.now(), id, worker)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("job %q: not held by %s: %w", id, worker, ErrConflict)
	}
	return nil
}

// Job returns a video's job.
func (s *SQL) Job(ctx context.Context, id string) (Job, error) {
	j, err := sqldb.One(ctx, s.Conn, `SELECT `+jobColumns+` FROM vod_jobs WHERE video_id = ?`, scanJob, id)
	if errors.Is(err, sql.ErrNoRows) {
		return j, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	return j, err
}

// JobCounts counts the jobs waiting (queued, retries included) and running (under a lease, expired ones
// included until another worker claims them), library-wide. The (state, next_at) index answers it.
func (s *SQL) JobCounts(ctx context.Context) (queued, running int, err error) {
	counts, err := sqldb.List(ctx, s.Conn, `SELECT state, COUNT(*) FROM vod_jobs WHERE state IN (?, ?) GROUP BY state`,
		func(r sqldb.Scanner) (stateCount, error) {
			var c stateCount
			err := r.Scan(&c.state, &c.n)
			return c, err
		}, JobQueued, JobRunning)
	for _, c := range counts {
		switch c.state {
		case JobQueued:
			queued = c.n
		case JobRunning:
			running = c.n
		}
	}
	return queued, running, err
}

type stateCount struct {
	state string
	n     int
}
