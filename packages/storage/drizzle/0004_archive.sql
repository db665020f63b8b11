CREATE TABLE "archive_messages" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "archive_messages_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"owner" text NOT NULL,
	"uid" text NOT NULL,
	"with_jid" text NOT NULL,
	"stanza" text NOT NULL,
	"stored_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "archive_prefs" (
	"owner" text PRIMARY KEY NOT NULL,
	"default_mode" text NOT NULL,
	"always" text[] NOT NULL,
	"never" text[] NOT NULL
);
--> statement-breakpoint
ALTER TABLE "archive_messages" ADD CONSTRAINT "archive_messages_owner_accounts_username_fk" FOREIGN KEY ("owner") REFERENCES "public"."accounts"("username") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "archive_prefs" ADD CONSTRAINT "archive_prefs_owner_accounts_username_fk" FOREIGN KEY ("owner") REFERENCES "public"."accounts"("username") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "archive_messages_owner_uid_idx" ON "archive_messages" USING btree ("owner","uid");--> statement-breakpoint
CREATE INDEX "archive_messages_owner_seq_idx" ON "archive_messages" USING btree ("owner","seq");--> statement-breakpoint
CREATE INDEX "archive_messages_owner_with_seq_idx" ON "archive_messages" USING btree ("owner","with_jid","seq");--> statement-breakpoint
CREATE INDEX "archive_messages_stored_at_idx" ON "archive_messages" USING btree ("stored_at");