import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareTagVersions, newerTags, parseTagVersion, pickTags, readRemoteTags } from '../src/tags.ts';

const lsRemote = [
  'aaaa\trefs/tags/v1.9.0',
  'bbbb\trefs/tags/v1.10.0',
  'cccc\trefs/tags/v1.10.0^{}',
  'dddd\trefs/tags/v1.16.0-rc0',
  'eeee\trefs/tags/v1.16.0',
  'ffff\trefs/tags/v1.14.0',
  '1111\trefs/tags/not-a-version',
  '2222\trefs/tags/v1.2.0',
].join('\n');

describe('upstream tags', () => {
  it('sort by version, not as text (v1.10 after v1.9), with the peeled commit', () => {
    const tags = readRemoteTags(lsRemote);
    assert.deepEqual(tags.map((t) => t.tag), ['v1.2.0', 'v1.9.0', 'v1.10.0', 'v1.14.0', 'v1.16.0-rc0', 'v1.16.0']);
    assert.equal(tags.find((t) => t.tag === 'v1.10.0')!.commit, 'cccc');
  });

  it('newer than the pin: releases only, pre-releases when asked', () => {
    const tags = readRemoteTags(lsRemote);
    assert.deepEqual(newerTags(tags, 'v1.9.0', false).map((t) => t.tag), ['v1.10.0', 'v1.14.0', 'v1.16.0']);
    assert.deepEqual(newerTags(tags, 'v1.14.0', true).map((t) => t.tag), ['v1.16.0-rc0', 'v1.16.0']);
    assert.deepEqual(newerTags(tags, 'v1.16.0', true), []);
  });

  it('a pre-release sorts before its release', () => {
    assert.ok(compareTagVersions(parseTagVersion('v1.16.0-rc0')!, parseTagVersion('v1.16.0')!) < 0);
    assert.ok(compareTagVersions(parseTagVersion('v1.16.0-rc1')!, parseTagVersion('v1.16.0-rc0')!) > 0);
    assert.equal(parseTagVersion('release-2'), null);
  });

  it('tags asked for by name must exist and be newer than the pin (a typo is not "up to date")', () => {
    const tags = readRemoteTags(lsRemote);
    assert.deepEqual(pickTags(tags, ['v1.16.0', 'v1.16.0'], 'v1.14.0', false), { tags: [tags.at(-1)], problems: [] });
    const cases: Array<[string, RegExp]> = [
      ['1.16.0', /^upstream has no tag 1\.16\.0 \(did you mean v1\.16\.0-rc0, v1\.16\.0\?\); its newest tags: .*v1\.16\.0$/],
      ['v1.16', /^upstream has no tag v1\.16 \(did you mean v1\.16\.0-rc0, v1\.16\.0\?\)/],
      ['v9.9.9', /^upstream has no tag v9\.9\.9; its newest tags: v1\.9\.0, v1\.10\.0, v1\.14\.0, v1\.16\.0-rc0, v1\.16\.0$/],
      ['v1.10.0', /^v1\.10\.0 is not newer than the pin v1\.14\.0; newer tags: v1\.16\.0-rc0, v1\.16\.0$/],
      ['v1.16.0-rc0', /^v1\.16\.0-rc0 is a pre-release; pass --pre/],
    ];
    for (const [asked, message] of cases) {
      const picked = pickTags(tags, [asked], 'v1.14.0', false);
      assert.deepEqual(picked.tags, []);
      assert.match(picked.problems[0]!, message);
    }
  });
});
