CREATE TABLE "pep_items" (
	"seq" bigint GENERATED ALWAYS AS IDENTITY (sequence name "pep_items_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"owner" text NOT NULL,
	"node" text NOT NULL,
	"item_id" text NOT NULL,
	"payload" text NOT NULL,
	CONSTRAINT "pep_items_owner_node_item_id_pk" PRIMARY KEY("owner","node","item_id")
);
--> statement-breakpoint
CREATE TABLE "pep_nodes" (
	"owner" text NOT NULL,
	"node" text NOT NULL,
	"config" jsonb NOT NULL,
	CONSTRAINT "pep_nodes_owner_node_pk" PRIMARY KEY("owner","node")
);
--> statement-breakpoint
ALTER TABLE "pep_items" ADD CONSTRAINT "pep_items_owner_node_pep_nodes_owner_node_fk" FOREIGN KEY ("owner","node") REFERENCES "public"."pep_nodes"("owner","node") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pep_nodes" ADD CONSTRAINT "pep_nodes_owner_accounts_username_fk" FOREIGN KEY ("owner") REFERENCES "public"."accounts"("username") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "pep_items_owner_node_seq_idx" ON "pep_items" USING btree ("owner","node","seq");