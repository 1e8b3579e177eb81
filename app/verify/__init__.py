"""Public certificate checks: by verification code (typed, or from the certificate's QR code) and by PDF file."""
