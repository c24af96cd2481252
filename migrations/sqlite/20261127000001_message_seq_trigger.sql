-- Sending a message on SQLite is one statement (see Store::insert_message): the INSERT takes the
-- conversation's next seq from conversations.last_seq, and this trigger moves last_seq to it in the
-- same statement's transaction. SQLite runs one writer at a time, so seqs stay gap-free and unique.
-- (PostgreSQL keeps the explicit UPDATE … RETURNING under a row lock.)
CREATE TRIGGER messages_take_seq AFTER INSERT ON messages
BEGIN
    UPDATE conversations SET last_seq = NEW.seq, last_activity_at = NEW.created_at WHERE id = NEW.conversation_id;
END;
