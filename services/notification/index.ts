export {
  createSmtpMailer,
  localSinkMail,
  type Mailer,
  MailNotSent,
  type OutgoingMail,
  type SentMail,
  type SmtpFailure,
  type SmtpMailerOptions,
} from './mailer'
export { neverTracedPaths as notificationNeverTraced } from './routes'
export { serveNotification } from './serve'
export { type NotificationOptions, type RunningNotification, startNotification } from './start'
