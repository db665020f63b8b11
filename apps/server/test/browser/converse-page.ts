import type { Locator, Page } from 'playwright-core';

/** Converse's screens as a user sees them, by the selectors of Converse.js 14. */
export class ConversePage {
  constructor(readonly page: Page) {}

  async open(url: string): Promise<void> {
    await this.page.goto(url);
  }

  get roster(): Locator {
    return this.page.locator('#converse-roster');
  }

  /** Resolves once the logged-in view (profile and contacts) is shown. */
  async waitForChat(timeout = 15_000): Promise<void> {
    await this.roster.waitFor({ state: 'visible', timeout });
  }

  async register(username: string, password: string): Promise<void> {
    await this.page.getByText('Create an account').click();
    const form = this.page.locator('form#converse-register');
    // The form's fields come from the server's XEP-0077 answer.
    await form.locator('input[name=username]').fill(username);
    await form.locator('input[name=password]').fill(password);
    await form.locator('input[type=submit]').click();
  }

  async login(username: string, password: string): Promise<void> {
    const form = this.page.locator('converse-login-form form');
    await form.locator('input[name=jid]').fill(username);
    await form.locator('input[name=password]').fill(password);
    await form.getByRole('button', { name: 'Log in' }).click();
  }

  async addContact(jid: string, name: string): Promise<void> {
    await this.page.locator('.dropdown--contacts button.dropdown-toggle').click();
    await this.page.locator('a.add-contact').click();
    const form = this.page.locator('form.add-xmpp-contact');
    await form.locator('input[name=jid]').fill(jid);
    await form.locator('input[name=name]').fill(name);
    await form.getByRole('button', { name: 'Add' }).click();
    await form.waitFor({ state: 'hidden' });
  }

  /** The contact's entry in the roster (its `data-status` carries the presence shown). */
  contact(jid: string): Locator {
    return this.roster.locator('li.list-item', { has: this.page.locator(`a.open-chat[data-jid="${jid}"]`) });
  }

  async openChat(jid: string, timeout = 15_000): Promise<void> {
    await this.roster.locator(`a.open-chat[data-jid="${jid}"]`).click();
    await this.waitForOpenChat(jid, timeout);
  }

  /** The chat element itself has no box of its own; its message field shows that it is open. */
  async waitForOpenChat(jid: string, timeout = 15_000): Promise<void> {
    await this.chat(jid).locator('textarea.chat-textarea').waitFor({ state: 'visible', timeout });
  }

  chat(jid: string): Locator {
    return this.page.locator(`converse-chat[jid="${jid}"]`);
  }

  messages(jid: string): Locator {
    return this.chat(jid).locator('.chat-msg__text');
  }

  async send(jid: string, text: string): Promise<void> {
    const textarea = this.chat(jid).locator('textarea.chat-textarea');
    await textarea.fill(text);
    await textarea.press('Enter');
  }

  /**
   * Whether `text` is in the browser's IndexedDB yet. Converse batches its writes, so what is on
   * screen may not be stored for a moment; a reload in that moment would lose it.
   */
  storedLocally(text: string): Promise<boolean> {
    return this.page.evaluate(async (needle) => {
      const request = <T>(r: IDBRequest<T>) =>
        new Promise<T>((resolve, reject) => {
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error);
        });
      for (const { name } of await indexedDB.databases()) {
        if (!name) continue;
        const opening = indexedDB.open(name);
        const db = await request(opening);
        try {
          for (const store of Array.from(db.objectStoreNames)) {
            const values = await request(db.transaction(store).objectStore(store).getAll());
            if (JSON.stringify(values).includes(needle)) return true;
          }
        } finally {
          db.close();
        }
      }
      return false;
    }, text);
  }
}
