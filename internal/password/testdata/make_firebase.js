// Writes the Firebase scrypt vectors of firebase.json (see README.md), made
// by the npm package firebase-scrypt (npm install firebase-scrypt@2.2.0),
// and checks it against the sample in Firebase's own README
// (github.com/firebase/scrypt): same parameters, same expected hash.
const { FirebaseScrypt } = require('firebase-scrypt')

const project = {
  signerKey: 'jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==',
  saltSeparator: 'Bw==',
  rounds: 8,
  memCost: 14,
}
const readme = { password: 'user1password', salt: '42xEC+ixf3L2lw==', hash: 'lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==' }

async function main () {
  const s = new FirebaseScrypt(project)
  const h = await s.hash(readme.password, readme.salt)
  if (h !== readme.hash) throw new Error('firebase-scrypt does not reproduce the README sample: ' + h)
  const users = [{ ...readme, made_by: "firebase/scrypt README's sample, reproduced by firebase-scrypt 2.2.0" }]
  for (const [password, salt] of [['pässwörd ✓ firebase', 'c2FsdHNhbHRzYWx0'], ['another-user-pw', 'AAECAwQFBgcICQ==']]) {
    const hash = await s.hash(password, salt)
    if (!(await s.verify(password, salt, hash))) throw new Error('verify')
    users.push({ password, salt, hash, made_by: 'firebase-scrypt 2.2.0: new FirebaseScrypt(project).hash(password, salt)' })
  }
  console.log(JSON.stringify({ project, users }, null, 1))
}
main()
