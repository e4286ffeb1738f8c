package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/sqldb"
)

const uploadColumns = `id, object_key, multipart_id, size, committed, expected_sha256, hash_state, parts, expires_at, created_at`

func scanUpload(r sqldb.Scanner) (Upload, error) {
	var u Upload
	var parts string
	var expires, created int64
	err := r.Scan(&u.ID, &u.ObjectKey, &u.MultipartID, &u.Size, &u.Committed, &u.ExpectedSHA256, &u.HashState,
		&parts, &expires, &created)
	if err != nil {
		return u, err
	}
	u.ExpiresAt, u.CreatedAt = sqldb.FromMS(expires), sqldb.FromMS(created)
	if err := json.Unmarshal([]byte(parts), &u.Parts); err != nil {
		return u, fmt.Errorf("upload %s: parts: %w", u.ID, err)
	}
	return u, nil
}

// Upload returns the state of a video's upload; ErrNotFound once it is complete (or never was).
func (s *SQL) Upload(ctx context.Context, id string) (Upload, error) {
	u, err := sqldb.One(ctx, s.Conn, `SELECT `+uploadColumns+` FROM vod_uploads WHERE id = ?`, scanUpload, id)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("upload %q: %w", id, ErrNotFound)
	}
	return u, err
}

// CommitPart records a stored part: the upload goes from committed bytes `from` to from+part.Size, with
// the hash state after them. It fails with ErrConflict when another writer moved the upload meanwhile.
func (s *SQL) CommitPart(ctx context.Context, id string, from int64, part objstore.Part, hashState []byte, expires time.Time) error {
	return s.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		u, err := scanUpload(tx.QueryRowContext(ctx, `SELECT `+uploadColumns+` FROM vod_uploads WHERE id = ?`+s.ForUpdate(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("upload %q: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if u.Committed != from {
			return fmt.Errorf("upload %q: at %d bytes, not %d: %w", id, u.Committed, from, ErrConflict)
		}
		u.Parts = append(u.Parts, part)
		_, err = tx.ExecContext(ctx, `UPDATE vod_uploads SET committed = ?, hash_state = ?, parts = ?, expires_at = ?
			WHERE id = ?`, from+part.Size, hashState, partsJSON(u.Parts), sqldb.MS(expires), id)
		return err
	})
}

// CompleteUpload ends a fully stored upload: the upload state goes, the video (with its checksum) goes to
// Processing and a processing job is queued, in one transaction.
func (s *SQL) CompleteUpload(ctx context.Context, id, sha256 string) (Video, error) {
	var out Video
	err := s.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM vod_uploads WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("upload %q: %w", id, ErrNotFound)
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `UPDATE vod_videos SET status = ?, sha256 = ?, progress = 0, updated_at = ?
			WHERE id = ?`, int(Processing), sha256, now, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO vod_jobs (video_id, state, attempts, next_at, lease_until, worker,
			error, updated_at) VALUES (?, ?, 0, ?, 0, '', '', ?)`, id, JobQueued, now, now); err != nil {
			return err
		}
		if err := addEvent(ctx, tx, id, now, Processing, "upload complete, sha256 "+sha256); err != nil {
			return err
		}
		out, err = scanVideo(tx.QueryRowContext(ctx, `SELECT `+videoColumns+` FROM vod_videos WHERE id = ?`, id))
		return err
	})
	return out, err
}

// ExpiredUploads lists uploads whose expiry has passed.
func (s *SQL) ExpiredUploads(ctx context.Context, now time.Time) ([]Upload, error) {
	return sqldb.List(ctx, s.Conn, `SELECT `+uploadColumns+` FROM vod_uploads WHERE expires_at < ? ORDER BY expires_at LIMIT 100`,
		scanUpload, sqldb.MS(now))
}
