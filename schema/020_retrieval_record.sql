-- 020_retrieval_record.sql - a retrieval request may name one record by
-- its id: an older key (superseded or rotated), which a restored disk
-- image or a second protector still needs (`escrowctl retrieve --record`,
-- the console's escrow history).
--
-- named_record is the record id exactly as the requester signed it
-- (ke_retrieval.h: the statement's "record=" line); NULL when the request
-- named a device or a Key ID, which resolve to the current record only.
-- Custodians see the record's state and are told it is an older one.
ALTER TABLE retrievals
  ADD COLUMN named_record text CHECK (named_record ~ '^rec-[a-z2-7]{26}$');
