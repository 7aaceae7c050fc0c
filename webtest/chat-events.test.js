// The chat state machine with events: edits, unsends, reactions and
// replies, our own changes until they are acknowledged, group events, and
// the counts (unread, mentions, muted) as the list and frames give them.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { REACTIONS } from '../assets/chat/items.js';
import { ACTION_ACK_MS } from '../assets/chat/outbox.js';
import { EVENTS } from '../assets/events.js';
import { harness, listItem, message } from './harness.js';

/** An `event` frame. */
function event(conversationId, seq, kind, fields = {}, actor = 'bob') {
  return {
    type: 'event',
    conversation_id: conversationId,
    seq,
    event_id: `e-${conversationId}-${seq}`,
    actor,
    created_at: new Date(Date.UTC(2026, 0, 1, 12, 0, seq)).toISOString(),
    client_msg_id: `ev-${seq}`,
    kind,
    ...fields,
  };
}

/** A group as the API lists it (alice owns it unless told otherwise). */
function group(id, { members = ['alice', 'bob', 'carol'], lastSeq = 0, unread = 0, mentions = 0, role = 'owner', owner = 'alice', admins = [], muted = false, left = false, title = 'Trip' } = {}) {
  return { ...listItem(id, { kind: 'group', members, lastSeq, unread, title }), mentions, role, owner, admins, muted, left };
}

/** A conversation with messages 1..n loaded as the newest page of history. */
function loaded(h, id = 'c1', n = 3, view = listItem(id, { lastSeq: n })) {
  h.machine.applyList([view]);
  h.machine.applyHistory(id, { items: Array.from({ length: n }, (_, i) => ({ type: 'message', ...message(id, i + 1, i % 2 ? 'alice' : 'bob') })), has_more: false, last_seq: n });
  return h.machine.conv(id);
}

const ack = (conversationId, clientMsgId, seq) => ({ type: 'ack', conversation_id: conversationId, client_msg_id: clientMsgId, seq, message_id: `x-${seq}` });
const reactionsOf = (m) => m.reactions.map((r) => [r.emoji, r.users]);

describe('edits, unsends and reactions from others', () => {
  test('an edit replaces the body, its mentions and edited_at; a replay changes nothing', () => {
    const h = harness();
    const c = loaded(h);
    const edit = event('c1', 4, 'edit', { target_seq: 1, body: 'fixed @alice', mentions: ['alice'], edited_at: '2026-01-01T13:00:00Z' });
    h.machine.onEventFrame(edit);
    const m = c.messages.get(1);
    assert.equal(m.body, 'fixed @alice');
    assert.deepEqual(m.mentions, ['alice']);
    assert.equal(m.edited_at, '2026-01-01T13:00:00Z');
    assert.equal(c.last_seq, 4, 'the event takes its seq');
    const changed = h.eventsOf(EVENTS.CHAT_MESSAGE).at(-1).detail;
    assert.equal(changed.isNew, false);
    assert.equal(changed.message.body, 'fixed @alice');

    h.clearLogs();
    h.machine.onEventFrame(edit);
    assert.equal(h.eventsOf(EVENTS.CHAT_MESSAGE).length, 0, 'a replayed edit is not announced again');
    h.machine.onEventFrame(event('c1', 3, 'edit', { target_seq: 1, body: 'older', mentions: [], edited_at: 'x' }));
    assert.equal(c.messages.get(1).body, 'fixed @alice', 'an older edit arriving late does not win');
  });

  test('an unsend takes body, media, reactions and mentions for good, and the quotes of it', () => {
    const h = harness();
    const c = loaded(h, 'c1', 1);
    h.machine.onMessageFrame({ ...message('c1', 2, 'carol'), reply_to: { seq: 1, sender: 'bob', excerpt: 'message 1', unsent: false } });
    h.machine.onEventFrame(event('c1', 3, 'react', { target_seq: 1, emoji: '👍' }, 'carol'));
    h.machine.onEventFrame(event('c1', 4, 'unsend', { target_seq: 1 }));
    const m = c.messages.get(1);
    assert.equal(m.unsent, true);
    assert.equal(m.body, '');
    assert.deepEqual(m.reactions, []);
    assert.deepEqual(c.messages.get(2).reply_to, { seq: 1, sender: 'bob', excerpt: '', unsent: true }, 'the reply quotes it as unsent');

    h.machine.onEventFrame(event('c1', 5, 'edit', { target_seq: 1, body: 'back?', mentions: [], edited_at: 'x' }));
    h.machine.onEventFrame(event('c1', 6, 'react', { target_seq: 1, emoji: '🔥' }, 'carol'));
    assert.equal(c.messages.get(1).body, '', 'no edit after an unsend');
    assert.deepEqual(c.messages.get(1).reactions, [], 'no reaction after an unsend');
  });

  test('an edit updates the quotes of the message in the replies loaded', () => {
    const h = harness();
    const c = loaded(h, 'c1', 1);
    h.machine.onMessageFrame({ ...message('c1', 2, 'carol'), reply_to: { seq: 1, sender: 'bob', excerpt: 'message 1', unsent: false } });
    h.machine.onEventFrame(event('c1', 3, 'edit', { target_seq: 1, body: `new\n\ntext ${'x'.repeat(200)}`, mentions: [], edited_at: 'x' }));
    const quote = c.messages.get(2).reply_to.excerpt;
    assert.ok(quote.startsWith('new text x'), quote);
    assert.equal([...quote].length, 100, 'a quote is one line of at most 100 characters');
  });

  test('reactions: one of each per member, in the fixed order, taken back by unreact', () => {
    const h = harness();
    const c = loaded(h, 'c1', 1);
    h.machine.onEventFrame(event('c1', 2, 'react', { target_seq: 1, emoji: '🔥' }, 'bob'));
    h.machine.onEventFrame(event('c1', 3, 'react', { target_seq: 1, emoji: '👍' }, 'carol'));
    h.machine.onEventFrame(event('c1', 4, 'react', { target_seq: 1, emoji: '👍' }, 'bob'));
    h.machine.onEventFrame(event('c1', 4, 'react', { target_seq: 1, emoji: '👍' }, 'bob'));
    assert.deepEqual(reactionsOf(c.messages.get(1)), [['👍', ['carol', 'bob']], ['🔥', ['bob']]]);
    h.machine.onEventFrame(event('c1', 5, 'unreact', { target_seq: 1, emoji: '🔥' }, 'bob'));
    assert.deepEqual(reactionsOf(c.messages.get(1)), [['👍', ['carol', 'bob']]]);
    h.machine.onEventFrame(event('c1', 6, 'react', { target_seq: 1, emoji: '💩' }, 'bob'));
    assert.deepEqual(reactionsOf(c.messages.get(1)), [['👍', ['carol', 'bob']]], 'an emoji outside the set is ignored');
    assert.deepEqual(REACTIONS, ['👍', '❤️', '😂', '😮', '😢', '🙏', '🎉', '🔥']);
  });

  test('a page of history reads as of its last seq: events it already holds are not applied again', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 3 })]);
    // Bob reacted (seq 2) and took it back (seq 3); the page shows the result.
    m.applyHistory('c1', {
      items: [
        { type: 'message', ...message('c1', 1), reactions: [] },
        { type: 'event', ...event('c1', 2, 'react', { target_seq: 1, emoji: '👍' }) },
        { type: 'event', ...event('c1', 3, 'unreact', { target_seq: 1, emoji: '👍' }) },
      ],
      has_more: false,
      last_seq: 3,
    });
    assert.deepEqual(m.conv('c1').messages.get(1).reactions, []);
    // The react frame, live but late, after the page.
    m.onEventFrame(event('c1', 2, 'react', { target_seq: 1, emoji: '👍' }));
    assert.deepEqual(m.conv('c1').messages.get(1).reactions, [], 'the page already held it');
    m.onEventFrame(event('c1', 4, 'react', { target_seq: 1, emoji: '😂' }));
    assert.deepEqual(reactionsOf(m.conv('c1').messages.get(1)), [['😂', ['bob']]], 'what follows the page applies');
  });

  test('a change to the last message of the list shows in its preview before any history loads', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 1, lastAt: '2026-01-01T00:00:00Z' })]);
    m.onEventFrame(event('c1', 2, 'unsend', { target_seq: 1 }));
    assert.equal(m.conv('c1').last_message.unsent, true);
  });

  test('kinds not known are ignored, but take their seq: the next frame is no hole', () => {
    const h = harness();
    const c = loaded(h, 'c1', 2);
    h.machine.onEventFrame(event('c1', 3, 'pinned', { target_seq: 1 }));
    assert.equal(c.last_seq, 3);
    assert.equal(c.events.size, 0);
    h.machine.onMessageFrame(message('c1', 4));
    assert.deepEqual(h.framesOf('sync'), []);
  });

  test('an event past a hole asks for what was missed', () => {
    const h = harness();
    loaded(h, 'c1', 2);
    h.machine.onEventFrame(event('c1', 5, 'react', { target_seq: 1, emoji: '👍' }));
    assert.deepEqual(h.framesOf('sync'), [{ type: 'sync', conversation_id: 'c1', after_seq: 2 }]);
  });
});

describe('our own changes', () => {
  test('edit, unsend and react go out as their frames and show at once; the ack makes them stick', () => {
    const h = harness();
    const m = h.machine;
    const c = loaded(h, 'c1', 2);
    m.edit('c1', 2, 'better');
    m.react('c1', 1, '❤️');
    assert.deepEqual(h.sent.filter((f) => f.type !== 'read'), [
      { type: 'edit', conversation_id: 'c1', client_msg_id: 'client-1', seq: 2, body: 'better' },
      { type: 'react', conversation_id: 'c1', client_msg_id: 'client-2', seq: 1, emoji: '❤️', remove: false },
    ]);
    assert.equal(m.view('c1', 2).body, 'better', 'shown before the ack');
    assert.ok(m.view('c1', 2).edited_at);
    assert.equal(c.messages.get(2).body, 'message 2', 'but not stored');
    assert.deepEqual(reactionsOf(m.view('c1', 1)), [['❤️', ['alice']]]);

    m.onAck(ack('c1', 'client-1', 3));
    m.onAck(ack('c1', 'client-2', 4));
    assert.equal(c.messages.get(2).body, 'better');
    assert.deepEqual(reactionsOf(c.messages.get(1)), [['❤️', ['alice']]]);
    assert.equal(m.actions.size, 0);
    assert.equal(c.last_seq, 4, 'acks right after the last seq move it on');

    // Our own event, replayed by a later sync, changes nothing.
    m.onEventFrame(event('c1', 4, 'react', { target_seq: 1, emoji: '❤️' }, 'alice'));
    assert.deepEqual(reactionsOf(c.messages.get(1)), [['❤️', ['alice']]]);

    m.react('c1', 1, '❤️', true);
    assert.equal(h.framesOf('react').at(-1).remove, true);
    assert.deepEqual(m.view('c1', 1).reactions, []);
    m.unsend('c1', 2);
    assert.deepEqual(h.framesOf('unsend').at(-1), { type: 'unsend', conversation_id: 'c1', client_msg_id: 'client-4', seq: 2 });
    assert.equal(m.view('c1', 2).unsent, true);
  });

  test('an ack past a hole does not hide it', () => {
    const h = harness();
    const c = loaded(h, 'c1', 2);
    h.machine.react('c1', 1, '👍');
    h.machine.onAck(ack('c1', 'client-1', 5));
    assert.equal(c.last_seq, 2);
  });

  test('a change never acknowledged is given up after ACTION_ACK_MS; a late ack still applies it', () => {
    const h = harness();
    const m = h.machine;
    const c = loaded(h, 'c1', 2);
    m.react('c1', 1, '🎉');
    h.timers.advance(ACTION_ACK_MS - 1);
    assert.equal(m.actions.size, 1);
    h.timers.advance(1);
    assert.equal(m.actions.size, 0);
    assert.deepEqual(m.view('c1', 1).reactions ?? [], [], 'no longer shown');
    assert.equal(h.eventsOf(EVENTS.CHAT_PENDING).at(-1).detail.failed.emoji, '🎉');
    m.onAck(ack('c1', 'client-1', 3));
    assert.deepEqual(reactionsOf(c.messages.get(1)), [['🎉', ['alice']]]);
  });

  test('changes made offline go out on reconnect, and are resent with the same client id', () => {
    const h = harness({ connected: false });
    const m = h.machine;
    loaded(h, 'c1', 2);
    m.edit('c1', 2, 'offline edit');
    assert.equal(h.framesOf('edit').length, 0);
    h.timers.advance(ACTION_ACK_MS * 2);
    assert.equal(m.actions.size, 1, 'a change never sent is not given up');
    h.connected = true;
    m.resync();
    m.resync();
    assert.deepEqual(h.framesOf('edit').map((f) => f.client_msg_id), ['client-1', 'client-1']);
  });

  test('a reply carries the seq it answers, and shows the quote before and after the ack', () => {
    const h = harness();
    const m = h.machine;
    const c = loaded(h, 'c1', 2);
    const p = m.send('c1', 'yes!', [], c.messages.get(1));
    assert.equal(h.framesOf('send')[0].reply_to, 1);
    assert.deepEqual(p.reply_to, { seq: 1, sender: 'bob', excerpt: 'message 1', unsent: false });
    m.onAck(ack('c1', p.client_msg_id, 3));
    assert.deepEqual(c.messages.get(3).reply_to, p.reply_to);
  });

  test('our message names the members it mentions, as the server resolves them', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([group('g')]);
    const p = m.send('g', 'hey @Carol and @nobody and @alice');
    m.onAck(ack('g', p.client_msg_id, 1));
    assert.deepEqual(m.conv('g').messages.get(1).mentions, ['carol']);
  });
});

describe('group events', () => {
  test('members added, removed and leaving, renames and roles change the group and each is a line', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([group('g', { lastSeq: 2 })]);
    m.onEventFrame(event('g', 3, 'member_added', { user: 'dave', role: 'member' }, 'alice'));
    let c = m.conv('g');
    assert.ok(c.members.some((x) => x.username === 'dave'));
    assert.deepEqual([...c.events.keys()], [3]);
    const told = h.eventsOf(EVENTS.CHAT_CONVERSATIONS).at(-1).detail;
    assert.equal(told.conversation_id, 'g');

    m.onEventFrame(event('g', 4, 'role_changed', { user: 'bob', role: 'admin' }, 'alice'));
    assert.deepEqual(c.admins, ['bob']);
    m.onEventFrame(event('g', 5, 'renamed', { title: 'Road trip' }, 'bob'));
    assert.equal(m.title(c), 'Road trip');
    m.onEventFrame(event('g', 6, 'member_removed', { user: 'carol' }, 'bob'));
    m.onEventFrame(event('g', 7, 'member_left', { user: 'dave' }, 'dave'));
    c = m.conv('g');
    assert.deepEqual(c.members.map((x) => x.username).sort(), ['alice', 'bob']);
    assert.deepEqual([...c.events.keys()], [3, 4, 5, 6, 7]);
    assert.equal(h.listReloads, 0);
    h.timers.advance(1000);
    assert.equal(h.listReloads, 1, 'a new member’s name and picture come from the list');
  });

  test('the owner leaving hands the group over', () => {
    const h = harness({ me: 'bob' });
    const m = h.machine;
    m.applyList([group('g', { role: 'admin', admins: ['bob'] })]);
    m.onEventFrame(event('g', 1, 'member_left', { user: 'alice' }, 'alice'));
    m.onEventFrame(event('g', 2, 'role_changed', { user: 'bob', role: 'owner' }, null));
    const c = m.conv('g');
    assert.equal(c.owner, 'bob');
    assert.equal(c.role, 'owner');
    assert.deepEqual(c.admins, []);
  });

  test('removed: the conversation is read-only, no more reads are sent, and nothing counts', () => {
    const h = harness({ me: 'carol' });
    const m = h.machine;
    m.applyList([group('g', { lastSeq: 5, role: 'member' })]);
    m.active = 'g';
    m.markReadIfVisible('g');
    assert.deepEqual(h.framesOf('read').map((f) => f.seq), [5]);
    m.onEventFrame(event('g', 6, 'member_removed', { user: 'carol' }, 'alice'));
    assert.equal(m.conv('g').left, true);
    assert.equal(h.framesOf('read').length, 1, 'no read of the removal: the server would refuse it');
    m.onRead({ type: 'read', conversation_id: 'g', user: 'bob', seq: 6 });
    assert.equal(h.framesOf('read').length, 1, 'nor an answer to another member’s');
    h.clearLogs();
    m.resync();
    assert.deepEqual(h.framesOf('sync'), [], 'a former member’s history is complete');
  });

  test('added back: a member again', () => {
    const h = harness({ me: 'carol' });
    const m = h.machine;
    m.applyList([group('g', { lastSeq: 5, role: 'member', left: true, members: ['alice', 'bob'] })]);
    m.onEventFrame(event('g', 9, 'member_added', { user: 'carol', role: 'member' }, 'alice'));
    assert.equal(m.conv('g').left, false);
  });

  test('an old event on a page of history never undoes the group as the list has it', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([group('g', { lastSeq: 20, members: ['alice', 'bob'], title: 'Now' })]);
    m.applyHistory('g', {
      items: [
        { type: 'event', ...event('g', 3, 'member_added', { user: 'carol', role: 'member' }, 'alice') },
        { type: 'event', ...event('g', 4, 'renamed', { title: 'Then' }, 'alice') },
        { type: 'message', ...message('g', 5) },
      ],
      has_more: true,
      last_seq: 20,
    });
    const c = m.conv('g');
    assert.deepEqual(c.members.map((x) => x.username), ['alice', 'bob']);
    assert.equal(c.title, 'Now');
    assert.deepEqual([...c.events.keys()], [3, 4], 'each still a line of the thread');
  });

  test('a line names people by their display name, from any conversation’s members or looked up', () => {
    const h = harness();
    const m = h.machine;
    const carol = { username: 'carol', display_name: 'Carol C' };
    m.applyList([{ ...group('g1'), members: [{ username: 'alice' }, carol] }, group('g2', { members: ['alice', 'bob'] })]);
    assert.equal(m.nameOf('g2', 'carol'), 'Carol C', 'she left g2, but g1 knows her');
    assert.equal(m.nameOf('g2', 'dave'), 'dave');
    h.clearLogs();
    m.learnNames([['dave', 'Dave D']]);
    assert.equal(m.nameOf('g2', 'dave'), 'Dave D');
    assert.equal(h.eventsOf(EVENTS.CHAT_CONVERSATIONS).length, 1, 'the lines are worded again');
  });

  test('an event for a conversation not known reloads the list (added to a group)', () => {
    const h = harness({ me: 'carol' });
    h.machine.applyList([]);
    h.machine.onEventFrame(event('new', 4, 'member_added', { user: 'carol', role: 'member' }, 'alice'));
    h.timers.advance(1000);
    assert.equal(h.listReloads, 1);
  });
});

describe('counts', () => {
  test('events never count as unread; an unread message unsent stops counting', () => {
    const h = harness();
    const m = h.machine;
    loaded(h, 'c1', 2);
    m.active = null;
    m.onEventFrame(event('c1', 3, 'react', { target_seq: 1, emoji: '👍' }));
    assert.equal(m.conv('c1').unread, 0);
    m.onMessageFrame(message('c1', 4));
    m.onMessageFrame(message('c1', 5));
    assert.equal(m.conv('c1').unread, 2);
    m.onEventFrame(event('c1', 6, 'unsend', { target_seq: 4 }));
    assert.equal(m.conv('c1').unread, 1);
    assert.ok(h.eventsOf(EVENTS.CHAT_UNREAD).length >= 1);
  });

  test('mentions: from the list, then each unread message naming us, cleared when read', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([group('g', { lastSeq: 4, unread: 2, mentions: 1 })]);
    assert.equal(m.conv('g').mentions, 1);
    m.onMessageFrame({ ...message('g', 5), mentions: ['alice'] });
    m.onMessageFrame({ ...message('g', 6), mentions: ['carol'] });
    assert.equal(m.conv('g').mentions, 2);
    m.onEventFrame(event('g', 7, 'unsend', { target_seq: 5 }));
    assert.equal(m.conv('g').mentions, 1);
    m.active = 'g';
    m.markReadIfVisible('g');
    assert.equal(m.conv('g').mentions, 0);
    assert.equal(m.conv('g').unread, 0);
  });

  test('read on another device: what is left counts only what came after it', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([group('g', { lastSeq: 4, unread: 1, mentions: 1 })]);
    m.onMessageFrame({ ...message('g', 5), mentions: ['alice'] });
    m.onEventFrame(event('g', 6, 'react', { target_seq: 5, emoji: '👍' }));
    m.onMessageFrame(message('g', 7));
    assert.equal(m.conv('g').unread, 3);
    m.onRead({ type: 'read', conversation_id: 'g', user: 'alice', seq: 6 });
    assert.equal(m.conv('g').unread, 1, 'only seq 7 is left');
    m.onRead({ type: 'read', conversation_id: 'g', user: 'alice', seq: 7 });
    assert.equal(m.conv('g').unread, 0);
    assert.equal(m.conv('g').mentions, 0);
  });

  test('a muted conversation keeps its count but stays out of the app’s total', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([group('loud', { lastSeq: 3, unread: 2 }), group('quiet', { lastSeq: 5, unread: 4, muted: true })]);
    assert.equal(m.conv('quiet').unread, 4);
    assert.equal(m.totalUnread(), 2);
    m.applyConversation({ ...group('quiet', { lastSeq: 5, unread: 4 }), muted: false });
    assert.equal(m.totalUnread(), 6);
  });

  test('the list’s role, owner, admins and left, and group events newer than it, both hold', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([group('g', { lastSeq: 3 })]);
    m.onEventFrame(event('g', 4, 'renamed', { title: 'Newer' }, 'bob'));
    // A list read before the rename arrives after it.
    m.applyList([group('g', { lastSeq: 3, title: 'Older' })]);
    assert.equal(m.conv('g').title, 'Newer');
    m.applyList([group('g', { lastSeq: 4, title: 'Newer', role: 'admin', owner: 'bob', admins: ['alice'] })]);
    const c = m.conv('g');
    assert.equal(c.role, 'admin');
    assert.equal(c.owner, 'bob');
    assert.deepEqual(c.admins, ['alice']);
  });
});
