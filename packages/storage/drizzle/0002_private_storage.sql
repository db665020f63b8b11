CREATE TABLE "private_xml" (
	"owner" text NOT NULL,
	"namespace" text NOT NULL,
	"name" text NOT NULL,
	"xml" text NOT NULL,
	CONSTRAINT "private_xml_owner_namespace_name_pk" PRIMARY KEY("owner","namespace","name")
);
--> statement-breakpoint
ALTER TABLE "private_xml" ADD CONSTRAINT "private_xml_owner_accounts_username_fk" FOREIGN KEY ("owner") REFERENCES "public"."accounts"("username") ON DELETE cascade ON UPDATE no action;