-- +goose Up
CREATE TABLE leases (
    name       VARCHAR(190) PRIMARY KEY,
    holder     VARCHAR(190) NOT NULL,
    expires_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE scale_events (
    id         BIGINT AUTO_INCREMENT PRIMARY KEY,
    group_name VARCHAR(128) NOT NULL,
    role       VARCHAR(32) NOT NULL,
    action     VARCHAR(32) NOT NULL,
    reason     TEXT NOT NULL,
    load_pct   DOUBLE PRECISION NOT NULL,
    predicted  DOUBLE PRECISION NOT NULL,
    nodes      TEXT NOT NULL,
    manager    VARCHAR(190) NOT NULL,
    at         BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX scale_events_group ON scale_events(group_name);

-- +goose Down
DROP TABLE scale_events;
DROP TABLE leases;
