export { type MailSink, type MailSinkOptions, type ReceivedMail, startMailSink } from './mail-sink'
