// The chat state machine, driven by frames as the server sends them.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  LIST_REFRESH_DELAY_MS,
  READ_ANSWER_EVERY_MS,
  TYPING_CHECK_SLACK_MS,
  TYPING_TTL_MS,
} from '../assets/chat/machine.js';
import { SEND_BURST, SEND_RATE_PER_SEC, SEND_RETRY_MS } from '../assets/chat/pacing.js';
import { EVENTS } from '../assets/events.js';
import { harness, listItem, message } from './harness.js';

const ack = (conversationId, clientMsgId, seq) => ({
  type: 'ack',
  conversation_id: conversationId,
  client_msg_id: clientMsgId,
  seq,
  message_id: `m-${seq}`,
});

const sentIds = (h) => h.framesOf('send').map((f) => f.client_msg_id);
const readSeqs = (h) => h.framesOf('read').map((f) => f.seq);

describe('unread counts and ordering', () => {
  test('each seq above the list counts once: duplicates, replays and our own messages do not', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 5, unread: 2 })]);

    m.onMessageFrame(message('c1', 6));
    assert.equal(m.conv('c1').unread, 3);
    const messageEvents = h.eventsOf(EVENTS.CHAT_MESSAGE).length;

    m.onMessageFrame(message('c1', 6));
    assert.equal(m.conv('c1').unread, 3, 'a duplicate frame is not counted again');
    assert.equal(h.eventsOf(EVENTS.CHAT_MESSAGE).length, messageEvents, 'nor announced again');

    m.onMessageFrame(message('c1', 4));
    assert.equal(m.conv('c1').unread, 3, 'a replay at or below the list’s last_seq was counted by the list');

    m.onMessageFrame(message('c1', 7, 'alice'));
    assert.equal(m.conv('c1').unread, 3, 'our own message is never unread');
    assert.equal(m.totalUnread(), 3);
  });

  test('the open conversation is read as messages arrive, and only while the page is visible', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 5, unread: 2 })]);
    m.active = 'c1';

    m.markReadIfVisible('c1');
    assert.equal(m.conv('c1').unread, 0);
    m.onMessageFrame(message('c1', 6));
    assert.equal(m.conv('c1').unread, 0);

    h.visible = false;
    m.onMessageFrame(message('c1', 7));
    assert.equal(m.conv('c1').unread, 1, 'a hidden page does not read');

    h.visible = true;
    m.markReadIfVisible('c1');
    m.markReadIfVisible('c1');
    assert.equal(m.conv('c1').unread, 0);
    assert.deepEqual(readSeqs(h), [5, 6, 7], 'each position is sent once');
  });

  test('the last message follows the highest seq, even when frames arrive out of order', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 1, lastAt: '2026-01-01T00:00:00Z' })]);
    m.onMessageFrame(message('c1', 3));
    m.onMessageFrame(message('c1', 2));
    assert.equal(m.conv('c1').last_seq, 3);
    assert.equal(m.conv('c1').last_message.seq, 3);
    assert.deepEqual([...m.conv('c1').messages.keys()].sort(), [2, 3]);
  });

  test('the list is most recently active first; conversations without messages keep the API’s order', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([
      listItem('early', { lastSeq: 1, lastAt: '2026-01-01T09:00:00Z' }),
      listItem('x'),
      listItem('y'),
      listItem('late', { lastSeq: 1, lastAt: '2026-01-01T10:00:00Z' }),
    ]);
    assert.deepEqual(
      m.list().map((c) => c.id),
      ['late', 'early', 'x', 'y'],
    );
    m.onMessageFrame(message('y', 1));
    assert.equal(m.list()[0].id, 'y', 'a new message moves its conversation to the top');
  });

  test('a page of history is already read: its messages do not count, older pages only extend it', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 5, unread: 1 })]);
    const items = [3, 4, 5, 6, 7].map((s) => message('c1', s));
    m.applyHistory('c1', { items, has_more: true, last_seq: 7 });
    const c = m.conv('c1');
    assert.equal(c.historyLoaded, true);
    assert.equal(c.hasMoreBefore, true);
    assert.equal(c.last_seq, 7);
    assert.equal(c.last_message.seq, 7);

    m.onMessageFrame(message('c1', 7));
    assert.equal(c.unread, 1, 'seq 7 came with the history');

    m.applyHistory('c1', { items: [message('c1', 1), message('c1', 2)], has_more: false, last_seq: 7 }, 3);
    assert.equal(c.hasMoreBefore, false);
    assert.equal(c.last_seq, 7);
    assert.deepEqual([...c.messages.keys()].sort(), [1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('sending, acks and resends', () => {
  test('a sent message is pending until acked, then stored once under its seq', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 5 })]);

    const p = m.send('c1', 'hello');
    assert.deepEqual(h.framesOf('send'), [{ type: 'send', conversation_id: 'c1', client_msg_id: 'client-1', body: 'hello' }]);
    assert.deepEqual(m.pendingFor('c1'), [p]);
    assert.equal(h.eventsOf(EVENTS.CHAT_PENDING).at(-1).detail.pending, p);

    m.onAck(ack('c1', 'client-1', 6));
    assert.equal(m.pending.size, 0);
    const stored = m.conv('c1').messages.get(6);
    assert.equal(stored.body, 'hello');
    assert.equal(stored.sender, 'alice');
    assert.equal(m.conv('c1').unread, 0);
    assert.equal(h.eventsOf(EVENTS.CHAT_PENDING).at(-1).detail.message, stored);

    // The server's echo of it (a sync replay, or another device's frame).
    const announced = h.eventsOf(EVENTS.CHAT_MESSAGE).length;
    m.onMessageFrame(message('c1', 6, 'alice', { client_msg_id: 'client-1', body: 'hello' }));
    m.onAck(ack('c1', 'client-1', 6));
    assert.equal(h.eventsOf(EVENTS.CHAT_MESSAGE).length, announced, 'the echo and a second ack add nothing');
    assert.equal(m.conv('c1').messages.size, 1);
  });

  test('our message seen from another device clears the pending entry', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 5 })]);
    m.send('c1', 'hello');
    m.onMessageFrame(message('c1', 6, 'alice', { client_msg_id: 'client-1' }));
    assert.equal(m.pending.size, 0);

    m.send('c1', 'again');
    m.onMessageFrame(message('c1', 7, 'bob', { client_msg_id: 'client-2' }));
    assert.equal(m.pending.size, 1, 'someone else’s message never clears ours');
  });

  test('after reconnecting, every conversation syncs and unacked messages are resent with the same client ids', () => {
    const h = harness({ connected: false });
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 5 }), listItem('c2', { lastSeq: 0 })]);
    m.send('c1', 'one');
    m.send('c1', 'two');
    assert.equal(h.sent.length, 0, 'nothing goes out while disconnected');

    h.connected = true;
    m.resync();
    assert.deepEqual(
      h.framesOf('sync').map((f) => [f.conversation_id, f.after_seq]),
      [
        ['c1', 5],
        ['c2', 0],
      ],
    );
    assert.deepEqual(sentIds(h), ['client-1', 'client-2']);

    m.onAck(ack('c1', 'client-1', 6));
    h.clearLogs();
    m.resync();
    assert.deepEqual(sentIds(h), ['client-2'], 'an acked message is never resent');
    assert.deepEqual(
      h.framesOf('sync').map((f) => [f.conversation_id, f.after_seq]),
      [
        ['c1', 6],
        ['c2', 0],
      ],
    );
  });

  test('after a resume, only unacked messages go again: no sync per conversation', () => {
    const h = harness({ connected: false });
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 5 }), listItem('c2', { lastSeq: 0 })]);
    m.send('c1', 'one');
    h.connected = true;
    m.resync({ sync: false });
    assert.deepEqual(h.framesOf('sync'), []);
    assert.deepEqual(sentIds(h), ['client-1']);
  });

  test('resync clears a message’s failed mark', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1')]);
    const p = m.send('c1', 'hello');
    p.failed = true;
    m.resync();
    assert.equal(p.failed, false);
  });
});

describe('gaps and syncs', () => {
  test('a frame past a hole asks for what follows the last seq seen', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 5 })]);
    m.applyHistory('c1', { items: [message('c1', 4), message('c1', 5)], has_more: true, last_seq: 5 });

    m.onMessageFrame(message('c1', 6));
    assert.deepEqual(h.framesOf('sync'), [], 'the next seq is no hole');

    m.onMessageFrame(message('c1', 9));
    assert.deepEqual(h.framesOf('sync'), [{ type: 'sync', conversation_id: 'c1', after_seq: 6 }]);
  });

  test('no sync before the history is loaded, or for a conversation’s first message', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 5 })]);
    m.onMessageFrame(message('c1', 9));
    m.applyHistory('c2', { items: [], has_more: false, last_seq: 0 });
    m.onMessageFrame(message('c2', 3));
    assert.deepEqual(h.framesOf('sync'), []);
  });

  test('a completed sync raises the last seq (never lowers it) and reads the open conversation', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 5 })]);
    m.active = 'c1';
    m.onSynced({ type: 'synced', conversation_id: 'c1', last_seq: 8 });
    assert.equal(m.conv('c1').last_seq, 8);
    assert.deepEqual(readSeqs(h), [8]);
    m.onSynced({ type: 'synced', conversation_id: 'c1', last_seq: 3 });
    assert.equal(m.conv('c1').last_seq, 8);
    m.onSynced({ type: 'synced', conversation_id: 'unknown', last_seq: 3 });
    assert.equal(m.conv('unknown'), null);
  });

  test('messages for unknown conversations reload the list once, after a quiet time', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([]);
    m.onMessageFrame(message('new1', 1));
    h.timers.advance(LIST_REFRESH_DELAY_MS - 50);
    m.onMessageFrame(message('new2', 1));
    h.timers.advance(LIST_REFRESH_DELAY_MS - 1);
    assert.equal(h.listReloads, 0, 'each new message restarts the wait');
    h.timers.advance(1);
    assert.equal(h.listReloads, 1);
    assert.equal(m.conv('new1').unread, 1, 'the message is counted meanwhile');
  });
});

describe('send pacing', () => {
  test('a burst goes out at once; the rest follow one per retry, in order', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1')]);
    for (let i = 0; i < SEND_BURST + 5; i += 1) m.send('c1', `m${i}`);
    assert.equal(h.framesOf('send').length, SEND_BURST);
    for (let k = 1; k <= 5; k += 1) {
      h.timers.advance(SEND_RETRY_MS);
      assert.equal(h.framesOf('send').length, SEND_BURST + k);
    }
    assert.deepEqual(
      sentIds(h),
      Array.from({ length: SEND_BURST + 5 }, (_, i) => `client-${i + 1}`),
    );
    assert.equal(h.timers.size, 0, 'no retry is left once the queue is empty');
  });

  test('after the burst, at most SEND_RATE_PER_SEC a second', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1')]);
    for (let i = 0; i < SEND_BURST + 3 * SEND_RATE_PER_SEC; i += 1) m.send('c1', `m${i}`);
    h.timers.advance(999);
    const first = h.framesOf('send').length;
    assert.ok(first <= SEND_BURST + SEND_RATE_PER_SEC, `${first} sent within the first second`);
    assert.ok(first >= SEND_BURST + SEND_RATE_PER_SEC - 1, `${first} sent within the first second: too slow`);
  });

  test('a message acked while it waits is not sent', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1')]);
    for (let i = 0; i < SEND_BURST + 2; i += 1) m.send('c1', `m${i}`);
    m.onAck(ack('c1', `client-${SEND_BURST + 1}`, 100));
    h.timers.advance(10 * SEND_RETRY_MS);
    assert.ok(!sentIds(h).includes(`client-${SEND_BURST + 1}`));
    assert.equal(sentIds(h).at(-1), `client-${SEND_BURST + 2}`);
  });

  test('sends that fail while disconnected use no tokens', () => {
    const h = harness({ connected: false });
    const m = h.machine;
    m.applyList([listItem('c1')]);
    for (let i = 0; i < SEND_BURST + 10; i += 1) m.send('c1', `m${i}`);
    h.connected = true;
    m.resync();
    assert.equal(h.framesOf('send').length, SEND_BURST, 'the whole burst is still there');
  });

  test('reset drops the queue', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1')]);
    m.active = 'c1';
    for (let i = 0; i < SEND_BURST + 5; i += 1) m.send('c1', `m${i}`);
    m.reset();
    assert.equal(h.timers.size, 0, 'no retry is left waiting');
    h.timers.advance(5000);
    assert.equal(h.framesOf('send').length, SEND_BURST);
    assert.equal(m.convs.size, 0);
    assert.equal(m.pending.size, 0);
    assert.equal(m.loaded, false);
    assert.equal(m.active, null);
  });
});

describe('read receipts', () => {
  test('another member’s read is answered with ours, at most once per READ_ANSWER_EVERY_MS', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 5 })]);
    m.onRead({ type: 'read', conversation_id: 'c1', user: 'bob', seq: 5 });
    assert.deepEqual(h.framesOf('read'), [{ type: 'read', conversation_id: 'c1', seq: 0 }]);
    assert.equal(m.othersRead('c1'), 5);
    assert.deepEqual(h.eventsOf(EVENTS.CHAT_READ).at(-1).detail, { conversation_id: 'c1', user: 'bob', seq: 5 });

    h.timers.advance(READ_ANSWER_EVERY_MS - 1);
    m.onRead({ type: 'read', conversation_id: 'c1', user: 'bob', seq: 5 });
    assert.equal(h.framesOf('read').length, 1);
    h.timers.advance(1);
    m.onRead({ type: 'read', conversation_id: 'c1', user: 'bob', seq: 5 });
    assert.equal(h.framesOf('read').length, 2);
  });

  test('an answer that could not be sent does not start the quiet time', () => {
    const h = harness({ connected: false });
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 5 })]);
    m.onRead({ type: 'read', conversation_id: 'c1', user: 'bob', seq: 5 });
    h.connected = true;
    m.onRead({ type: 'read', conversation_id: 'c1', user: 'bob', seq: 5 });
    assert.equal(h.framesOf('read').length, 1);
  });

  test('our read on another device lowers the unread count, never raises it, and is not echoed', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 10, unread: 4 })]);
    m.onRead({ type: 'read', conversation_id: 'c1', user: 'alice', seq: 8 });
    assert.equal(m.conv('c1').unread, 2);
    m.onRead({ type: 'read', conversation_id: 'c1', user: 'alice', seq: 2 });
    assert.equal(m.conv('c1').unread, 2);
    assert.equal(h.framesOf('read').length, 0);
    assert.equal(m.othersRead('c1'), 0);

    m.active = 'c1';
    m.markReadIfVisible('c1');
    assert.deepEqual(readSeqs(h), [10], 'the rest is read here');
    m.onRead({ type: 'read', conversation_id: 'c1', user: 'alice', seq: 12 });
    m.onMessageFrame(message('c1', 11));
    m.onMessageFrame(message('c1', 12));
    assert.deepEqual(readSeqs(h), [10], 'what the other device read is not sent again');
  });

  test('othersRead is the furthest any other member has read, and never goes back', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('g', { kind: 'group', members: ['alice', 'bob', 'carol'], lastSeq: 9 })]);
    m.onRead({ type: 'read', conversation_id: 'g', user: 'bob', seq: 3 });
    m.onRead({ type: 'read', conversation_id: 'g', user: 'carol', seq: 7 });
    m.onRead({ type: 'read', conversation_id: 'g', user: 'carol', seq: 4 });
    assert.equal(m.othersRead('g'), 7);
  });
});

describe('typing', () => {
  test('shows for TYPING_TTL_MS after the last frame, then is cleared and announced', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1')]);
    m.onTyping({ type: 'typing', conversation_id: 'c1', user: 'bob' });
    assert.deepEqual(m.typers('c1'), ['bob']);
    h.timers.advance(TYPING_TTL_MS - 1);
    assert.deepEqual(m.typers('c1'), ['bob']);
    h.timers.advance(1);
    assert.deepEqual(m.typers('c1'), []);

    const announced = h.eventsOf(EVENTS.CHAT_TYPING).length;
    h.timers.advance(TYPING_CHECK_SLACK_MS);
    assert.equal(h.eventsOf(EVENTS.CHAT_TYPING).length, announced + 1);
    assert.equal(m.conv('c1').typing.size, 0);
  });

  test('a repeated frame keeps it up', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1')]);
    m.onTyping({ type: 'typing', conversation_id: 'c1', user: 'bob' });
    h.timers.advance(2000);
    m.onTyping({ type: 'typing', conversation_id: 'c1', user: 'bob' });
    h.timers.advance(TYPING_TTL_MS - 2000 + TYPING_CHECK_SLACK_MS);
    assert.deepEqual(m.typers('c1'), ['bob'], 'the first frame’s check leaves the renewed one');
    h.timers.advance(2000);
    assert.deepEqual(m.typers('c1'), []);
  });

  test('their message ends it at once; our own typing is ignored', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1')]);
    m.onTyping({ type: 'typing', conversation_id: 'c1', user: 'alice' });
    assert.deepEqual(m.typers('c1'), []);
    m.onTyping({ type: 'typing', conversation_id: 'c1', user: 'bob' });
    m.onMessageFrame(message('c1', 1, 'bob'));
    assert.deepEqual(m.typers('c1'), []);
  });
});

describe('titles', () => {
  test('a title, else the other members, else what is left', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([
      listItem('named', { kind: 'group', title: 'Trip', members: ['alice', 'bob'] }),
      listItem('group', { kind: 'group', members: ['alice', 'bob', 'carol'] }),
      listItem('gone', { kind: 'direct', members: ['alice'] }),
      listItem('alone', { kind: 'group', members: ['alice'] }),
    ]);
    assert.equal(m.title(m.conv('named')), 'Trip');
    assert.equal(m.title(m.conv('group')), 'bob, carol');
    assert.equal(m.title(m.conv('gone')), 'deleted user');
    assert.equal(m.title(m.conv('alone')), 'alice');
  });
});

describe('attachments', () => {
  test('a message with media sends the list in order, with an empty body, and keeps it when acked', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 1 })]);
    const p = m.send('c1', '', [{ id: 'm1', alt: 'a dog' }, { id: 'm2' }]);
    const [frame] = h.framesOf('send');
    assert.deepEqual(frame.media, [{ id: 'm1', alt: 'a dog' }, { id: 'm2', alt: '' }]);
    assert.equal(frame.body, '');
    m.onAck(ack('c1', p.client_msg_id, 2));
    assert.deepEqual(m.conv('c1').messages.get(2).media, [{ id: 'm1', alt: 'a dog' }, { id: 'm2', alt: '' }]);
  });

  test('a message without media sends no media field', () => {
    const h = harness();
    h.machine.applyList([listItem('c1')]);
    h.machine.send('c1', 'hi');
    assert.equal('media' in h.framesOf('send')[0], false);
  });
});

describe('read positions from the server', () => {
  test('the list and each synced bring everyone’s position; positions only move forward', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([{ ...listItem('c1', { lastSeq: 5, unread: 0 }), read: [{ user: 'alice', seq: 5 }, { user: 'bob', seq: 4 }] }]);
    assert.equal(m.othersRead('c1'), 4, 'known after a reload, without any live read frame');
    assert.equal(m.conv('c1').readSent, 5, 'our own position counts as sent');
    assert.ok(h.eventsOf(EVENTS.CHAT_READ).length >= 1, 'the thread is told to redraw its receipt');

    m.onSynced({ type: 'synced', conversation_id: 'c1', last_seq: 5, read: [{ user: 'bob', seq: 2 }] });
    assert.equal(m.othersRead('c1'), 4, 'an older position never moves it back');
    m.onSynced({ type: 'synced', conversation_id: 'c1', last_seq: 6, read: [{ user: 'bob', seq: 6 }, { user: 'carol', seq: 1 }] });
    assert.equal(m.othersRead('c1'), 6);
    assert.equal(m.conv('c1').reads.get('carol'), 1);
  });

  test('a list or synced without positions (an older server) changes nothing', () => {
    const h = harness();
    const m = h.machine;
    m.applyList([listItem('c1', { lastSeq: 3, unread: 0 })]);
    m.onSynced({ type: 'synced', conversation_id: 'c1', last_seq: 3 });
    assert.equal(m.othersRead('c1'), 0);
  });
});
