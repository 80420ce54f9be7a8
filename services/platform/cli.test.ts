import { describe, expect, test } from 'bun:test'
import { nearest, parseFlags } from '.'

const flags = {
  port: { type: 'string', placeholder: 'N' },
  host: { type: 'string', multiple: true, placeholder: 'NAME' },
  fargate: { type: 'boolean' },
} as const

describe('parseFlags', () => {
  test('gives typed values for the flags given, and help', () => {
    expect(parseFlags('demo', ['--port', '80', '--host=a', '--host', 'b', '--fargate', '-h'], flags)).toEqual({
      ok: true,
      value: { port: '80', host: ['a', 'b'], fargate: true, help: true },
    })
  })

  test('reports every problem at once, each naming the fix', () => {
    expect(parseFlags('demo', ['--prot', '80', '--fargate=yes', 'stray', '--port'], flags)).toEqual({
      ok: false,
      problems: [
        'unknown option --prot for demo (did you mean --port?); see app demo --help',
        '--fargate takes no value (got "yes"); see app demo --help',
        'unexpected argument "stray" for demo; see app demo --help',
        '--port needs a value: --port N; see app demo --help',
      ],
    })
  })

  test('calls a value that looks like an option a forgotten value', () => {
    const parsed = parseFlags('demo', ['--port', '--fargate'], flags)
    expect(parsed.ok).toBe(false)
    if (!parsed.ok) expect(parsed.problems[0]).toStartWith('--port needs a value, not "--fargate": --port N')
  })
})

test('nearest suggests only what is close enough to be meant', () => {
  expect(nearest('serv', ['serve', 'status', 'dev'])).toBe('serve')
  expect(nearest('--fargat', ['--fargate', '--region'])).toBe('--fargate')
  expect(nearest('frob', ['serve', 'status', 'dev'])).toBeUndefined()
})
