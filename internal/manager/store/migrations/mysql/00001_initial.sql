-- +goose Up
CREATE TABLE scale_policies (
    name         VARCHAR(128) PRIMARY KEY,
    description  TEXT NOT NULL,
    type         VARCHAR(255) NOT NULL,
    version      VARCHAR(64) NOT NULL,
    targets      TEXT NOT NULL,
    warmup_ms    BIGINT NOT NULL,
    cooldown_ms  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE launch_configs (
    name         VARCHAR(128) PRIMARY KEY,
    description  TEXT NOT NULL,
    image        VARCHAR(255) NOT NULL,
    version      VARCHAR(64) NOT NULL,
    targets      TEXT NOT NULL,
    properties   TEXT NOT NULL,
    metadata     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE node_groups (
    id            BIGINT AUTO_INCREMENT PRIMARY KEY,
    name          VARCHAR(128) NOT NULL UNIQUE,
    regions       TEXT NOT NULL,
    launch_config VARCHAR(128) NOT NULL,
    scale_policy  VARCHAR(128) NOT NULL,
    created_at    BIGINT NOT NULL,
    FOREIGN KEY (launch_config) REFERENCES launch_configs(name) ON DELETE RESTRICT,
    FOREIGN KEY (scale_policy) REFERENCES scale_policies(name) ON DELETE RESTRICT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE alarm_thresholds (
    role      VARCHAR(32) PRIMARY KEY,
    threshold INTEGER NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE nodes (
    id          VARCHAR(64) PRIMARY KEY,
    group_name  VARCHAR(128) NOT NULL,
    role        VARCHAR(32) NOT NULL,
    state       VARCHAR(32) NOT NULL,
    region      VARCHAR(64) NOT NULL,
    zone        VARCHAR(64) NOT NULL,
    version     VARCHAR(64) NOT NULL,
    capacity    INTEGER NOT NULL,
    addresses   TEXT NOT NULL,
    parent      VARCHAR(255) NOT NULL,
    stats       TEXT NOT NULL,
    last_report BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX nodes_group ON nodes(group_name);
CREATE INDEX nodes_state ON nodes(state);
CREATE TABLE node_events (
    id         BIGINT AUTO_INCREMENT PRIMARY KEY,
    node_id    VARCHAR(64) NOT NULL,
    from_state VARCHAR(32) NOT NULL,
    to_state   VARCHAR(32) NOT NULL,
    cause      TEXT NOT NULL,
    at         BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX node_events_node ON node_events(node_id);
CREATE TABLE streams (
    name       VARCHAR(300) PRIMARY KEY,
    node_id    VARCHAR(64) NOT NULL,
    protocol   VARCHAR(16) NOT NULL,
    started_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX streams_node ON streams(node_id);

-- +goose Down
DROP TABLE streams;
DROP TABLE node_events;
DROP TABLE nodes;
DROP TABLE alarm_thresholds;
DROP TABLE node_groups;
DROP TABLE launch_configs;
DROP TABLE scale_policies;
