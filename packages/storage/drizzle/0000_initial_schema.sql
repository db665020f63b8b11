CREATE TABLE "accounts" (
	"username" text PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_login_at" timestamp with time zone,
	"scram_salt" text NOT NULL,
	"scram_iterations" integer NOT NULL,
	"scram_sha1_stored_key" text NOT NULL,
	"scram_sha1_server_key" text NOT NULL,
	"scram_sha256_stored_key" text NOT NULL,
	"scram_sha256_server_key" text NOT NULL,
	"roster_version" integer DEFAULT 0 NOT NULL,
	"roster_history_floor" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "blocked_jids" (
	"owner" text NOT NULL,
	"jid" text NOT NULL,
	CONSTRAINT "blocked_jids_owner_jid_pk" PRIMARY KEY("owner","jid")
);
--> statement-breakpoint
CREATE TABLE "offline_messages" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "offline_messages_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"owner" text NOT NULL,
	"stanza" text NOT NULL,
	"stored_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "pending_subscriptions" (
	"owner" text NOT NULL,
	"contact" text NOT NULL,
	CONSTRAINT "pending_subscriptions_owner_contact_pk" PRIMARY KEY("owner","contact")
);
--> statement-breakpoint
CREATE TABLE "roster_items" (
	"owner" text NOT NULL,
	"contact" text NOT NULL,
	"name" text,
	"groups" text[] DEFAULT '{}'::text[] NOT NULL,
	"subscription" text DEFAULT 'none' NOT NULL,
	"ask_out" boolean DEFAULT false NOT NULL,
	"approved" boolean DEFAULT false NOT NULL,
	"version" integer NOT NULL,
	CONSTRAINT "roster_items_owner_contact_pk" PRIMARY KEY("owner","contact"),
	CONSTRAINT "roster_items_subscription_check" CHECK ("roster_items"."subscription" in ('none', 'to', 'from', 'both'))
);
--> statement-breakpoint
CREATE TABLE "roster_tombstones" (
	"owner" text NOT NULL,
	"contact" text NOT NULL,
	"version" integer NOT NULL,
	CONSTRAINT "roster_tombstones_owner_contact_pk" PRIMARY KEY("owner","contact")
);
--> statement-breakpoint
CREATE TABLE "vcards" (
	"owner" text PRIMARY KEY NOT NULL,
	"xml" text NOT NULL,
	"avatar_hash" text
);
--> statement-breakpoint
ALTER TABLE "blocked_jids" ADD CONSTRAINT "blocked_jids_owner_accounts_username_fk" FOREIGN KEY ("owner") REFERENCES "public"."accounts"("username") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "offline_messages" ADD CONSTRAINT "offline_messages_owner_accounts_username_fk" FOREIGN KEY ("owner") REFERENCES "public"."accounts"("username") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pending_subscriptions" ADD CONSTRAINT "pending_subscriptions_owner_accounts_username_fk" FOREIGN KEY ("owner") REFERENCES "public"."accounts"("username") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "roster_items" ADD CONSTRAINT "roster_items_owner_accounts_username_fk" FOREIGN KEY ("owner") REFERENCES "public"."accounts"("username") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "roster_tombstones" ADD CONSTRAINT "roster_tombstones_owner_accounts_username_fk" FOREIGN KEY ("owner") REFERENCES "public"."accounts"("username") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vcards" ADD CONSTRAINT "vcards_owner_accounts_username_fk" FOREIGN KEY ("owner") REFERENCES "public"."accounts"("username") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "offline_messages_owner_id_idx" ON "offline_messages" USING btree ("owner","id");--> statement-breakpoint
CREATE INDEX "roster_items_contact_idx" ON "roster_items" USING btree ("contact");--> statement-breakpoint
CREATE INDEX "roster_tombstones_owner_version_idx" ON "roster_tombstones" USING btree ("owner","version");