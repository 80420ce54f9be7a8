import { describe, expect, test } from 'bun:test'
import { contentLengthOf, empty, json, text } from '.'

describe('the answers the roles build', () => {
  test.each([
    ['json', () => json({ a: 1 }), 'application/json'],
    ['text', () => text('a'), 'text/plain;charset=UTF-8'],
    ['empty', () => empty(), null],
  ] as const)(
    '%s: a header set on one answer is not on the next (the tracing layer sets one on each)',
    (_name, make, type) => {
      const first = make()
      first.headers.set('x-amzn-trace-id', 'Root=1-5759e988-bd862e3fe1be46a994272793')
      const second = make()
      expect(second.headers.get('x-amzn-trace-id')).toBeNull()
      expect(second.headers.get('content-type')).toBe(type)
    },
  )

  test('json keeps the headers it is given beside its content type', () => {
    const answer = json({ a: 1 }, { status: 201, headers: { location: '/x' } })
    expect([answer.status, answer.headers.get('location'), answer.headers.get('content-type')]).toEqual([
      201,
      '/x',
      'application/json',
    ])
    expect(json({ a: 1 }).headers.get('location')).toBeNull()
  })

  test('the length of an answer is known without reading it', () => {
    expect([contentLengthOf(json({ a: 'é' })), contentLengthOf(text('héllo')), contentLengthOf(empty())]).toEqual([
      10, 6, 0,
    ])
  })
})
