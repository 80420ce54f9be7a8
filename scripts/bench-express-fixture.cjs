// Benchmark peer: Node + Express 5 + aws-xray-sdk-express exactly as its README shows (openSegment before the
// routes, closeSegment after; the SDK's default automatic mode), at 100% sampling, answering GET /notification/xray
// with the same JSON as the notification role. Segments go to AWS_XRAY_DAEMON_ADDRESS over UDP.
// Usage: node scripts/bench-express-fixture.cjs PORT
const AWSXRay = require('aws-xray-sdk-core')
const xrayExpress = require('aws-xray-sdk-express')
const express = require('express')

AWSXRay.middleware.disableCentralizedSampling()
AWSXRay.middleware.setSamplingRules({ version: 2, rules: [], default: { fixed_target: 1, rate: 1 } })

const app = express()
app.use(xrayExpress.openSegment('bench-express'))
app.get('/notification/xray', (_req, res) => {
  res.json({ applicationname: 'Notification Microservice', appversion: 'V1', message: 'Enabled AWS XRay' })
})
app.use(xrayExpress.closeSegment())
app.listen(Number(process.argv[2]), '127.0.0.1')
