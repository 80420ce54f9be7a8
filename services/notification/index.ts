export { createSmtpMailer, type Mailer, type OutgoingMail, type SentMail, type SmtpMailerOptions } from './mailer'
export { serveNotification } from './serve'
export { createNotificationApp, type NotificationOptions, type RunningNotification, startNotification } from './start'
