// A thread's composer: the message field with @mention suggestions (the
// members), photos and videos being uploaded, typing frames, and the two
// modes a message's actions start: replying (the quote above the field)
// and editing (the field holds the message; sending saves it). A former
// member of a group gets a note in its place.

import { chat } from '../chat/client.js';
import { excerptOf } from '../chat/items.js';
import { icon } from '../icons.js';
import { Attachments, MAX_ITEMS } from '../mediakit/attachments.js';
import { attachmentTray, filePicker } from '../mediakit/composer-files.js';
import { attachMentions, rankPeople } from '../mention-complete.js';
import { fetchMedia, isMe, sendFrame, state } from '../store.js';
import { formError, h, uid } from '../ui.js';

/** Our `typing` frames go out at most this often: the server passes them on no more often (docs/protocol.md). */
const TYPING_EVERY_MS = 1500;
/** The server's limit on a message's length, in characters. */
export const MAX_BODY = 4000;
/** What a former member reads in place of the field. */
export const NOT_A_MEMBER = "You're no longer a member of this group";

/**
 * Attachments being uploaded, per signed-in user and conversation: they
 * outlive the open thread, so switching conversations mid-upload loses
 * nothing.
 */
const drafts = new Map();

function draftFiles(conversationId) {
  const owner = state.me?.id || '';
  for (const key of drafts.keys()) {
    // Another user's drafts (signed out and in as someone else) go.
    if (!key.startsWith(`${owner}:`)) {
      drafts.get(key).clear({ cancel: true });
      drafts.delete(key);
    }
  }
  const key = `${owner}:${conversationId}`;
  if (!drafts.has(key)) drafts.set(key, new Attachments({ scope: owner, fetchView: fetchMedia }));
  return drafts.get(key);
}

/**
 * The composer of conversation `id`. `opts`: { nameOf(username),
 * lastOwn() (our newest message that may be edited, for the up arrow),
 * onSent(pending) }. Returns { el, addFiles, reply(m), edit(m), cancel(),
 * focus(), render(), dispose() }.
 */
export function threadComposer(id, opts) {
  const inputId = uid('message');
  const input = h('textarea', {
    id: inputId,
    class: 'input message-input',
    testid: 'message-input',
    rows: '1',
    placeholder: 'Write a message…',
    maxlength: String(MAX_BODY),
    autocomplete: 'off',
  });
  const sendBtn = h('button', { type: 'submit', class: 'btn btn-primary btn-icon send-btn', testid: 'message-send', 'aria-label': 'Send' }, icon('send'));
  const err = formError();

  // ---- replying and editing ----
  const contextTitle = h('span', { class: 'composer-context-title' });
  const contextText = h('span', { class: 'composer-context-text' });
  const contextCancel = h('button', { type: 'button', class: 'btn btn-ghost btn-icon btn-sm', testid: 'composer-context-cancel', 'aria-label': 'Cancel' }, icon('x'));
  const context = h('div', { class: 'composer-context', testid: 'composer-context', hidden: true },
    h('div', { class: 'composer-context-main' }, contextTitle, contextText), contextCancel);
  /** null, or { kind: 'reply' | 'edit', m } */
  let mode = null;
  /** What the field held before an edit took it. */
  let draft = '';

  // ---- attachments ----
  const files = draftFiles(id);
  const addFiles = (list) => {
    if (mode?.kind === 'edit' || chat.conv(id)?.left) return;
    err.clear();
    const { refused } = files.add(list);
    if (refused) err.show(`A message can carry at most ${MAX_ITEMS} photos and videos; ${refused === 1 ? 'one file was' : `${refused} files were`} left out.`);
  };
  const picker = filePicker({ testid: 'message-attach', label: 'Attach photos or videos', iconName: 'paperclip', compact: true, onFiles: addFiles });
  const tray = attachmentTray(files, { compact: true, label: 'Photos and videos for this message' });
  const renderFiles = () => {
    tray.update();
    const waiting = files.count > 0 && !files.sendable && mode?.kind !== 'edit';
    sendBtn.disabled = waiting;
    sendBtn.title = waiting ? (files.uploading ? 'Waiting for uploads…' : 'Remove the failed file to send') : '';
  };
  files.onChange = renderFiles;

  const form = h('form', { class: 'message-composer', novalidate: true },
    picker.button, picker.input,
    h('label', { class: 'sr-only', for: inputId, text: 'Message' }),
    input, sendBtn);
  const leftNote = h('p', { class: 'thread-left', testid: 'thread-left', role: 'status', hidden: true, text: NOT_A_MEMBER });
  const el = h('div', { class: 'thread-composer' }, err.el, context, tray.el, form, leftNote);

  const renderContext = () => {
    context.hidden = !mode;
    picker.button.hidden = mode?.kind === 'edit';
    sendBtn.setAttribute('aria-label', mode?.kind === 'edit' ? 'Save' : 'Send');
    if (!mode) {
      input.placeholder = 'Write a message…';
      return;
    }
    const { m } = mode;
    if (mode.kind === 'reply') {
      const who = isMe(m.sender) ? 'yourself' : opts.nameOf(m.sender);
      contextTitle.textContent = `Replying to ${who}`;
      contextText.textContent = excerptOf(m.body) || (m.media?.length ? 'Photo or video' : '');
      contextCancel.setAttribute('aria-label', 'Cancel reply');
      input.placeholder = 'Write a reply…';
    } else {
      contextTitle.textContent = 'Editing your message';
      contextText.textContent = excerptOf(m.body);
      contextCancel.setAttribute('aria-label', 'Cancel editing');
      input.placeholder = 'Edit your message…';
    }
    renderFiles();
  };

  const focus = (opts) => input.focus(opts);
  const caretToEnd = () => input.setSelectionRange(input.value.length, input.value.length);

  const cancel = () => {
    if (!mode) return;
    if (mode.kind === 'edit') input.value = draft;
    mode = null;
    err.clear();
    renderContext();
  };
  const reply = (m) => {
    if (mode?.kind === 'edit') cancel();
    mode = { kind: 'reply', m };
    renderContext();
    focus();
  };
  const edit = (m) => {
    if (mode?.kind !== 'edit') draft = input.value;
    mode = { kind: 'edit', m };
    input.value = m.body || '';
    renderContext();
    focus();
    caretToEnd();
  };
  contextCancel.addEventListener('click', () => {
    cancel();
    focus();
  });

  // ---- @mentions: the group's members ----
  const mentions = attachMentions(input, {
    candidates: async (prefix) => {
      const c = chat.conv(id);
      return c ? rankPeople(chat.others(c), prefix) : [];
    },
  });

  // ---- typing and keys ----
  let lastTyping = 0;
  input.addEventListener('input', () => {
    err.clear();
    if (!input.value.trim() || mode?.kind === 'edit') return;
    const now = Date.now();
    if (now - lastTyping >= TYPING_EVERY_MS) {
      if (sendFrame({ type: 'typing', conversation_id: id })) lastTyping = now;
    }
  });
  input.addEventListener('keydown', (e) => {
    if (e.isComposing || e.keyCode === 229) return;
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      form.requestSubmit();
    } else if (e.key === 'Escape' && mode) {
      e.preventDefault();
      cancel();
    } else if (e.key === 'ArrowUp' && !input.value && !mode) {
      // As in Slack: the up arrow in an empty field edits our last message.
      const m = opts.lastOwn();
      if (m) {
        e.preventDefault();
        edit(m);
      }
    }
  });

  const saveEdit = (m) => {
    const body = input.value;
    if (body === m.body) {
      cancel();
      return;
    }
    if (!body.trim() && !m.media?.length) {
      err.show('A message cannot be empty: unsend it instead.');
      return;
    }
    chat.edit(id, m.seq, body);
    mode = null;
    input.value = draft;
    renderContext();
    focus();
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = input.value;
    if ([...body].length > MAX_BODY) {
      err.show(`A message can be at most ${MAX_BODY} characters.`);
      return;
    }
    const c = chat.conv(id);
    if (!c || c.left) {
      err.show('This conversation is not available.');
      return;
    }
    if (mode?.kind === 'edit') {
      saveEdit(mode.m);
      return;
    }
    if (files.count && !files.sendable) {
      err.show(files.uploading ? 'Wait for the uploads to finish, then send.' : 'Remove the file that failed, then send.');
      return;
    }
    const media = files.payload();
    if (!body.trim() && !media.length) return;
    err.clear();
    input.value = '';
    lastTyping = 0;
    const replyTo = mode?.kind === 'reply' ? mode.m : null;
    const p = chat.send(id, media.length && !body.trim() ? '' : body, media, replyTo);
    // Attached now: the uploads stay, only the draft lets go of them.
    files.clear();
    mode = null;
    renderContext();
    opts.onSent(p);
    focus();
  });

  /** Shows the field, or the note of a former member. */
  const render = () => {
    const left = !!chat.conv(id)?.left;
    form.hidden = left;
    leftNote.hidden = !left;
    if (left) {
      cancel();
      mentions.close();
      context.hidden = true;
    }
  };

  const online = () => renderFiles();
  window.addEventListener('online', online);
  window.addEventListener('offline', online);
  renderFiles();
  render();

  return {
    el,
    err,
    addFiles,
    reply,
    edit,
    cancel,
    focus,
    render,
    mediaChanged: (v) => files.mediaChanged(v),
    /** The message being replied to or edited is gone (unsent): stop. */
    forget(seq) {
      if (mode && mode.m.seq === seq) cancel();
    },
    dispose() {
      mentions.detach();
      tray.dispose();
      window.removeEventListener('online', online);
      window.removeEventListener('offline', online);
      if (files.onChange === renderFiles) files.onChange = () => {};
    },
  };
}
