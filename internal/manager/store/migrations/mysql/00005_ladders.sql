-- +goose Up
-- the adaptive ladder provisioned for a stream (Red5's event/meta call, or the native API): the origin
-- that transcodes the stream asks for it when the stream starts
CREATE TABLE ladders (
    stream     VARCHAR(300) PRIMARY KEY,
    body       MEDIUMTEXT NOT NULL,
    updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE ladders;
