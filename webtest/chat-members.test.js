// A group's events in words, and who may do what in it.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { applyGroupEvent, powers, systemText } from '../assets/chat/members.js';

const names = { alice: 'Alice', bob: 'Bob', carol: 'Carol' };
const nameOf = (u) => names[u] || u;
const say = (e, me = 'zed') => systemText({ actor: 'alice', ...e }, nameOf, me);

describe('the lines of a thread', () => {
  test('by someone else, naming others', () => {
    assert.equal(say({ kind: 'member_added', user: 'carol' }), 'Alice added Carol');
    assert.equal(say({ kind: 'member_removed', user: 'bob' }), 'Alice removed Bob');
    assert.equal(say({ kind: 'member_left', user: 'bob', actor: 'bob' }), 'Bob left');
    assert.equal(say({ kind: 'renamed', title: 'Dinner' }), 'Alice renamed the group to “Dinner”');
    assert.equal(say({ kind: 'role_changed', user: 'bob', role: 'admin' }), 'Alice made Bob an admin');
    assert.equal(say({ kind: 'role_changed', user: 'bob', role: 'member' }), 'Alice removed Bob as an admin');
    assert.equal(say({ kind: 'role_changed', user: 'bob', role: 'owner' }), 'Alice made Bob the owner');
  });

  test('“you” for the reader, at the start or inside', () => {
    assert.equal(say({ kind: 'member_added', user: 'carol' }, 'alice'), 'You added Carol');
    assert.equal(say({ kind: 'member_added', user: 'carol' }, 'carol'), 'Alice added you');
    assert.equal(say({ kind: 'member_removed', user: 'carol' }, 'carol'), 'Alice removed you');
    assert.equal(say({ kind: 'member_left', user: 'carol', actor: 'carol' }, 'carol'), 'You left');
    assert.equal(say({ kind: 'role_changed', user: 'carol', role: 'admin' }, 'carol'), 'Alice made you an admin');
  });

  test('changes no one made (an owner gone): said of the member', () => {
    assert.equal(say({ kind: 'role_changed', user: 'bob', role: 'owner', actor: null }), 'Bob is now the owner');
    assert.equal(say({ kind: 'role_changed', user: 'bob', role: 'owner', actor: null }, 'bob'), 'You are now the owner');
    assert.equal(say({ kind: 'role_changed', user: 'alice', role: 'admin', actor: 'alice' }), 'Alice is now an admin');
    assert.equal(say({ kind: 'renamed', title: 'X', actor: null }), 'Someone renamed the group to “X”');
  });

  test('kinds that are not the group’s say nothing', () => {
    assert.equal(say({ kind: 'edit', target_seq: 1 }), null);
    assert.equal(say({ kind: 'archived' }), null);
  });
});

describe('who may do what', () => {
  const g = (role, extra = {}) => ({ kind: 'group', role, owner: 'alice', admins: ['bob'], left: false, ...extra });

  test('the owner removes anyone but themself and changes roles', () => {
    const p = powers(g('owner'), 'alice');
    assert.equal(p.manages, true);
    assert.equal(p.owner, true);
    assert.equal(p.canRemove('bob'), true);
    assert.equal(p.canRemove('carol'), true);
    assert.equal(p.canRemove('alice'), false);
  });

  test('an admin adds, renames and removes members, not admins or the owner', () => {
    const p = powers(g('admin'), 'bob');
    assert.equal(p.manages, true);
    assert.equal(p.owner, false);
    assert.equal(p.canRemove('carol'), true);
    assert.equal(p.canRemove('alice'), false);
    assert.equal(p.canRemove('dave', {}), true);
  });

  test('a member, a former member and a direct conversation: nothing', () => {
    for (const [c, me] of [[g('member'), 'carol'], [g('owner', { left: true }), 'alice'], [{ kind: 'direct', role: 'member' }, 'alice']]) {
      const p = powers(c, me);
      assert.equal(p.manages, false);
      assert.equal(p.canRemove('carol'), false);
    }
  });
});

describe('applying group events', () => {
  const conv = () => ({ kind: 'group', members: [{ username: 'alice' }, { username: 'bob' }], owner: 'alice', admins: [], role: 'owner', left: false, title: null, stateSeq: 10, groupKeys: new Map() });

  test('only events newer than the state, and newer than the last change to the same thing', () => {
    const c = conv();
    assert.equal(applyGroupEvent(c, { seq: 9, kind: 'member_added', user: 'carol', role: 'member' }, 'alice'), false);
    assert.equal(applyGroupEvent(c, { seq: 12, kind: 'member_added', user: 'carol', role: 'member' }, 'alice'), true);
    assert.equal(applyGroupEvent(c, { seq: 11, kind: 'member_removed', user: 'carol' }, 'alice'), false, 'an older removal arriving late');
    assert.deepEqual(c.members.map((m) => m.username), ['alice', 'bob', 'carol']);
    assert.equal(applyGroupEvent(c, { seq: 13, kind: 'role_changed', user: 'carol', role: 'admin' }, 'alice'), true);
    assert.equal(applyGroupEvent(c, { seq: 14, kind: 'member_removed', user: 'carol' }, 'alice'), true);
    assert.deepEqual(c.admins, [], 'a removed admin is no longer one');
  });
});
