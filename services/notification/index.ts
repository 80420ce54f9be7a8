export { createSmtpMailer, type Mailer, type OutgoingMail, type SentMail, type SmtpMailerOptions } from './mailer'
export { serveNotification } from './serve'
export { type NotificationOptions, type RunningNotification, startNotification } from './start'
