-- The records schema as `Base.metadata.create_all` made it on postgresql before migrations existed
-- (physio-assistant 0.1.0, 2026-12-03). Frozen: tests/test_migrations.py builds a database from it
-- and checks that `physio-assistant migrate` stamps it and keeps every row.

CREATE TABLE conversations (
	id VARCHAR(200) NOT NULL,
	client_id VARCHAR(200),
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_conversations_updated_at ON conversations (updated_at);

CREATE TABLE article_reviews (
	id SERIAL NOT NULL,
	article_id VARCHAR(200) NOT NULL,
	reviewer VARCHAR(200) NOT NULL,
	action VARCHAR(16) NOT NULL,
	status VARCHAR(16),
	note TEXT,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_article_reviews_article_created ON article_reviews (article_id, created_at);

CREATE TABLE callbacks (
	id SERIAL NOT NULL,
	name VARCHAR(200) NOT NULL,
	contact VARCHAR(200) NOT NULL,
	preferred_time VARCHAR(200) NOT NULL,
	note TEXT,
	consent BOOLEAN NOT NULL,
	status VARCHAR(8) NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	done_at TIMESTAMP WITH TIME ZONE,
	PRIMARY KEY (id)
);

CREATE INDEX ix_callbacks_status ON callbacks (status);

CREATE TABLE turns (
	id SERIAL NOT NULL,
	conversation_id VARCHAR(200) NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	user_message TEXT NOT NULL,
	answer TEXT NOT NULL,
	level VARCHAR(16),
	flags JSON NOT NULL,
	sources JSON NOT NULL,
	exercises JSON NOT NULL,
	refused BOOLEAN NOT NULL,
	latency_ms FLOAT NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(conversation_id) REFERENCES conversations (id) ON DELETE CASCADE
);

CREATE INDEX ix_turns_level ON turns (level);

CREATE INDEX ix_turns_conversation_id ON turns (conversation_id);

CREATE INDEX ix_turns_created_at ON turns (created_at);

CREATE TABLE feedback (
	id SERIAL NOT NULL,
	turn_id INTEGER NOT NULL,
	liked BOOLEAN NOT NULL,
	comment TEXT,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(turn_id) REFERENCES turns (id) ON DELETE CASCADE
);

CREATE INDEX ix_feedback_turn_id ON feedback (turn_id);

CREATE TABLE reviews (
	id SERIAL NOT NULL,
	turn_id INTEGER NOT NULL,
	reviewer VARCHAR(200) NOT NULL,
	verdict VARCHAR(16) NOT NULL,
	corrected_answer TEXT,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(turn_id) REFERENCES turns (id) ON DELETE CASCADE
);

CREATE INDEX ix_reviews_turn_id ON reviews (turn_id);

CREATE TABLE approved_answers (
	id SERIAL NOT NULL,
	question TEXT NOT NULL,
	answer TEXT NOT NULL,
	reviewer VARCHAR(200) NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	active BOOLEAN NOT NULL,
	turn_id INTEGER,
	PRIMARY KEY (id),
	FOREIGN KEY(turn_id) REFERENCES turns (id) ON DELETE SET NULL
);

CREATE INDEX ix_approved_answers_active ON approved_answers (active);
