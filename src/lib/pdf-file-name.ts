/** The file name Didit gives a session's report. */
export const pdfFileName = (sessionId: string) => `session_${sessionId}.pdf`;
