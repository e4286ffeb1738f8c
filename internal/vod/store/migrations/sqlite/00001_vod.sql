-- +goose Up
CREATE TABLE vod_videos (
    id              VARCHAR(32) PRIMARY KEY,
    owner           VARCHAR(128) NOT NULL,
    title           VARCHAR(512) NOT NULL,
    description     TEXT NOT NULL,
    visibility      INTEGER NOT NULL,
    status          INTEGER NOT NULL,
    failure         TEXT NOT NULL,
    progress        INTEGER NOT NULL,
    source          INTEGER NOT NULL,
    stream          VARCHAR(300) NOT NULL,
    file_name       VARCHAR(512) NOT NULL,
    size            BIGINT NOT NULL,
    sha256          VARCHAR(64) NOT NULL,
    duration_ms     BIGINT NOT NULL,
    width           INTEGER NOT NULL,
    height          INTEGER NOT NULL,
    video_codec     VARCHAR(64) NOT NULL,
    audio_codec     VARCHAR(64) NOT NULL,
    renditions      TEXT NOT NULL,
    source_key      VARCHAR(1024) NOT NULL,
    mp4_key         VARCHAR(1024) NOT NULL,
    hls_key         VARCHAR(1024) NOT NULL,
    poster_key      VARCHAR(1024) NOT NULL,
    storyboard_key  VARCHAR(1024) NOT NULL,
    storyboard_vtt  VARCHAR(1024) NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE TABLE vod_uploads (
    id              VARCHAR(32) PRIMARY KEY,
    object_key      VARCHAR(1024) NOT NULL,
    multipart_id    VARCHAR(1024) NOT NULL,
    size            BIGINT NOT NULL,
    committed       BIGINT NOT NULL,
    expected_sha256 VARCHAR(64) NOT NULL,
    hash_state      BLOB NOT NULL,
    parts           TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    FOREIGN KEY (id) REFERENCES vod_videos(id) ON DELETE CASCADE
);
CREATE TABLE vod_jobs (
    video_id    VARCHAR(32) PRIMARY KEY,
    state       VARCHAR(16) NOT NULL,
    attempts    INTEGER NOT NULL,
    next_at     BIGINT NOT NULL,
    lease_until BIGINT NOT NULL,
    worker      VARCHAR(64) NOT NULL,
    error       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    FOREIGN KEY (video_id) REFERENCES vod_videos(id) ON DELETE CASCADE
);
CREATE TABLE vod_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id  VARCHAR(32) NOT NULL,
    at        BIGINT NOT NULL,
    status    INTEGER NOT NULL,
    message   TEXT NOT NULL,
    FOREIGN KEY (video_id) REFERENCES vod_videos(id) ON DELETE CASCADE
);

CREATE INDEX vod_videos_owner ON vod_videos (owner, created_at, id);
CREATE INDEX vod_videos_created ON vod_videos (created_at, id);
CREATE INDEX vod_uploads_expires ON vod_uploads (expires_at);
CREATE INDEX vod_jobs_next ON vod_jobs (state, next_at);
CREATE INDEX vod_events_video ON vod_events (video_id, id);

-- +goose Down
DROP TABLE vod_events;
DROP TABLE vod_jobs;
DROP TABLE vod_uploads;
DROP TABLE vod_videos;
