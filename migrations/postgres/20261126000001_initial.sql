-- Confab's schema on PostgreSQL: the twin of migrations/sqlite/, table for table and column for
-- column. Ids are BIGSERIAL, times BIGINT milliseconds since the Unix epoch. Usernames compare
-- bytewise (COLLATE "C"), as in SQLite, so the prefix search by range works the same.

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT COLLATE "C" NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    last_seen     BIGINT
);

CREATE TABLE tokens (
    id          BIGSERIAL PRIMARY KEY,
    user_id     BIGINT  NOT NULL REFERENCES users(id),
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE friend_requests (
    id         BIGSERIAL PRIMARY KEY,
    from_user  BIGINT  NOT NULL REFERENCES users(id),
    to_user    BIGINT  NOT NULL REFERENCES users(id),
    created_at BIGINT  NOT NULL,
    UNIQUE (from_user, to_user)
);
CREATE INDEX friend_requests_to ON friend_requests (to_user);

CREATE TABLE friendships (
    user_id    BIGINT  NOT NULL REFERENCES users(id),
    friend_id  BIGINT  NOT NULL REFERENCES users(id),
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, friend_id)
);

CREATE TABLE conversations (
    id               BIGSERIAL PRIMARY KEY,
    kind             TEXT    NOT NULL,
    title            TEXT,
    direct_key       TEXT    UNIQUE,
    created_by       BIGINT  NOT NULL REFERENCES users(id),
    created_at       BIGINT  NOT NULL,
    last_seq         BIGINT  NOT NULL DEFAULT 0,
    last_activity_at BIGINT  NOT NULL
);

CREATE TABLE conversation_members (
    conversation_id BIGINT  NOT NULL REFERENCES conversations(id),
    user_id         BIGINT  NOT NULL REFERENCES users(id),
    joined_at       BIGINT  NOT NULL,
    last_read_seq   BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_members_user ON conversation_members (user_id);

CREATE TABLE messages (
    id              BIGSERIAL PRIMARY KEY,
    conversation_id BIGINT  NOT NULL REFERENCES conversations(id),
    seq             BIGINT  NOT NULL,
    updated_seq     BIGINT  NOT NULL,
    sender_id       BIGINT  NOT NULL REFERENCES users(id),
    kind            TEXT    NOT NULL,
    content         TEXT,
    client_msg_id   TEXT,
    call_json       TEXT,
    created_at      BIGINT  NOT NULL,
    edited_at       BIGINT,
    deleted_at      BIGINT,
    pinned_at       BIGINT,
    pinned_by       BIGINT REFERENCES users(id),
    UNIQUE (conversation_id, seq),
    UNIQUE (sender_id, client_msg_id)
);
CREATE INDEX messages_changes ON messages (conversation_id, updated_seq);

CREATE TABLE reactions (
    message_id BIGINT  NOT NULL REFERENCES messages(id),
    user_id    BIGINT  NOT NULL REFERENCES users(id),
    emoji      TEXT    NOT NULL,
    added_seq  BIGINT  NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);
