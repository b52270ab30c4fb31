// x509verify: an independent check of hsmca's certificates with Go's
// crypto/x509, the parser and verifier Talos and Kubernetes use.
//
// Standard library only; built offline by tests/CMakeLists.txt:
//
//	GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=off go build -o x509verify x509verify.go
//
// Usage (options before the file):
//
//	x509verify --roots ROOTS.pem [--intermediates INT.pem] [--eku server|client|any]
//	           [--dns NAME] [--time RFC3339] [--crl CRL.pem --crl-issuer CA.pem] CERT.pem
//	x509verify --check-self-signed ROOT.pem
//	x509verify --show CERT.pem
//	x509verify --show-crl CRL.pem
//
// Exit status: 0 OK, 1 verification failed or input malformed, 2 usage.
// Every result, good or bad, is one line on stdout ("OK: ..." or "FAIL: ...")
// except --show/--show-crl, which print JSON on success.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"
)

// Inputs are test artefacts; anything bigger than this is a mistake.
const maxInputBytes = 16 << 20

type failure struct{ msg string }

func (f failure) Error() string { return f.msg }

func failf(format string, args ...interface{}) error {
	return failure{fmt.Sprintf(format, args...)}
}

func readInput(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, failf("read %s: %v", path, err)
	}
	if st.Size() > maxInputBytes {
		return nil, failf("read %s: file too large (%d bytes)", path, st.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, failf("read %s: %v", path, err)
	}
	return data, nil
}

// pemBlocks returns the DER of every PEM block of the wanted type. A file
// without any PEM block is taken as one DER object. Blocks of other types
// and stray bytes outside blocks are refused: a malformed file should fail
// here rather than be half-read.
func pemBlocks(path string, data []byte, wanted string) ([][]byte, error) {
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		if len(bytes.TrimSpace(data)) == 0 {
			return nil, failf("%s: empty file", path)
		}
		return [][]byte{data}, nil
	}
	var ders [][]byte
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != wanted {
			return nil, failf("%s: unexpected PEM block %q (want %q)", path, block.Type, wanted)
		}
		ders = append(ders, block.Bytes)
	}
	if len(ders) == 0 {
		return nil, failf("%s: no valid %q PEM block", path, wanted)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, failf("%s: trailing data after the last PEM block (malformed PEM?)", path)
	}
	return ders, nil
}

func loadCerts(path string) ([]*x509.Certificate, error) {
	data, err := readInput(path)
	if err != nil {
		return nil, err
	}
	ders, err := pemBlocks(path, data, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	certs := make([]*x509.Certificate, 0, len(ders))
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, failf("%s: certificate #%d: %v", path, i+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

func loadOneCert(path string) (*x509.Certificate, error) {
	certs, err := loadCerts(path)
	if err != nil {
		return nil, err
	}
	if len(certs) != 1 {
		return nil, failf("%s: holds %d certificates, want exactly 1", path, len(certs))
	}
	return certs[0], nil
}

func loadCRL(path string) (*x509.RevocationList, error) {
	data, err := readInput(path)
	if err != nil {
		return nil, err
	}
	ders, err := pemBlocks(path, data, "X509 CRL")
	if err != nil {
		return nil, err
	}
	if len(ders) != 1 {
		return nil, failf("%s: holds %d CRLs, want exactly 1", path, len(ders))
	}
	crl, err := x509.ParseRevocationList(ders[0])
	if err != nil {
		return nil, failf("%s: %v", path, err)
	}
	return crl, nil
}

func keyDescription(pub interface{}) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", pub)
	}
}

var keyUsageNames = []struct {
	bit  x509.KeyUsage
	name string
}{
	{x509.KeyUsageDigitalSignature, "digitalSignature"},
	{x509.KeyUsageContentCommitment, "contentCommitment"},
	{x509.KeyUsageKeyEncipherment, "keyEncipherment"},
	{x509.KeyUsageDataEncipherment, "dataEncipherment"},
	{x509.KeyUsageKeyAgreement, "keyAgreement"},
	{x509.KeyUsageCertSign, "keyCertSign"},
	{x509.KeyUsageCRLSign, "cRLSign"},
	{x509.KeyUsageEncipherOnly, "encipherOnly"},
	{x509.KeyUsageDecipherOnly, "decipherOnly"},
}

var extKeyUsageNames = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny:                            "any",
	x509.ExtKeyUsageServerAuth:                     "serverAuth",
	x509.ExtKeyUsageClientAuth:                     "clientAuth",
	x509.ExtKeyUsageCodeSigning:                    "codeSigning",
	x509.ExtKeyUsageEmailProtection:                "emailProtection",
	x509.ExtKeyUsageIPSECEndSystem:                 "ipsecEndSystem",
	x509.ExtKeyUsageIPSECTunnel:                    "ipsecTunnel",
	x509.ExtKeyUsageIPSECUser:                      "ipsecUser",
	x509.ExtKeyUsageTimeStamping:                   "timeStamping",
	x509.ExtKeyUsageOCSPSigning:                    "OCSPSigning",
	x509.ExtKeyUsageMicrosoftServerGatedCrypto:     "msSGC",
	x509.ExtKeyUsageNetscapeServerGatedCrypto:      "nsSGC",
	x509.ExtKeyUsageMicrosoftCommercialCodeSigning: "msCodeCom",
	x509.ExtKeyUsageMicrosoftKernelCodeSigning:     "msKernelCodeSigning",
}

var crlReasonNames = map[int]string{
	0: "unspecified", 1: "keyCompromise", 2: "cACompromise",
	3: "affiliationChanged", 4: "superseded", 5: "cessationOfOperation",
	6: "certificateHold", 8: "removeFromCRL", 9: "privilegeWithdrawn",
	10: "aACompromise",
}

var oidCRLReason = asn1.ObjectIdentifier{2, 5, 29, 21}

func serialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	if n.Sign() < 0 {
		return "-" + hex.EncodeToString(new(big.Int).Neg(n).Bytes())
	}
	if n.Sign() == 0 {
		return "00"
	}
	return hex.EncodeToString(n.Bytes())
}

// showCert is the --show JSON; integration tests assert on these names.
type showCert struct {
	Subject               string          `json:"subject"`
	SubjectCommonName     string          `json:"subjectCommonName"`
	SubjectOrganization   []string        `json:"subjectOrganization"`
	Issuer                string          `json:"issuer"`
	IssuerCommonName      string          `json:"issuerCommonName"`
	Serial                string          `json:"serial"`
	Version               int             `json:"version"`
	NotBefore             string          `json:"notBefore"`
	NotAfter              string          `json:"notAfter"`
	BasicConstraintsValid bool            `json:"basicConstraintsValid"`
	IsCA                  bool            `json:"isCA"`
	MaxPathLen            int             `json:"maxPathLen"` // -1: no limit
	KeyUsage              []string        `json:"keyUsage"`
	ExtKeyUsage           []string        `json:"extKeyUsage"`
	DNSNames              []string        `json:"dnsNames"`
	IPAddresses           []string        `json:"ipAddresses"`
	URIs                  []string        `json:"uris"`
	EmailAddresses        []string        `json:"emailAddresses"`
	SubjectKeyID          string          `json:"subjectKeyId"`
	AuthorityKeyID        string          `json:"authorityKeyId"`
	SignatureAlgorithm    string          `json:"signatureAlgorithm"`
	PublicKeyAlgorithm    string          `json:"publicKeyAlgorithm"`
	PublicKey             string          `json:"publicKey"`
	SelfSigned            bool            `json:"selfSigned"`
	Extensions            []showExtension `json:"extensions"`
}

type showExtension struct {
	OID      string `json:"oid"`
	Critical bool   `json:"critical"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func describeCert(c *x509.Certificate) showCert {
	s := showCert{
		Subject:               c.Subject.String(),
		SubjectCommonName:     c.Subject.CommonName,
		SubjectOrganization:   nonNil(c.Subject.Organization),
		Issuer:                c.Issuer.String(),
		IssuerCommonName:      c.Issuer.CommonName,
		Serial:                serialHex(c.SerialNumber),
		Version:               c.Version,
		NotBefore:             c.NotBefore.UTC().Format(time.RFC3339),
		NotAfter:              c.NotAfter.UTC().Format(time.RFC3339),
		BasicConstraintsValid: c.BasicConstraintsValid,
		IsCA:                  c.IsCA,
		MaxPathLen:            -1,
		KeyUsage:              []string{},
		ExtKeyUsage:           []string{},
		DNSNames:              nonNil(c.DNSNames),
		IPAddresses:           []string{},
		URIs:                  []string{},
		EmailAddresses:        nonNil(c.EmailAddresses),
		SubjectKeyID:          hex.EncodeToString(c.SubjectKeyId),
		AuthorityKeyID:        hex.EncodeToString(c.AuthorityKeyId),
		SignatureAlgorithm:    c.SignatureAlgorithm.String(),
		PublicKeyAlgorithm:    c.PublicKeyAlgorithm.String(),
		PublicKey:             keyDescription(c.PublicKey),
		SelfSigned:            bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil,
		Extensions:            []showExtension{},
	}
	// Go reports "no limit" as -1, and also as 0 unless MaxPathLenZero.
	if c.BasicConstraintsValid && (c.MaxPathLen > 0 || c.MaxPathLenZero) {
		s.MaxPathLen = c.MaxPathLen
	}
	for _, ku := range keyUsageNames {
		if c.KeyUsage&ku.bit != 0 {
			s.KeyUsage = append(s.KeyUsage, ku.name)
		}
	}
	for _, eku := range c.ExtKeyUsage {
		name, ok := extKeyUsageNames[eku]
		if !ok {
			name = fmt.Sprintf("unknown(%d)", eku)
		}
		s.ExtKeyUsage = append(s.ExtKeyUsage, name)
	}
	for _, oid := range c.UnknownExtKeyUsage {
		s.ExtKeyUsage = append(s.ExtKeyUsage, oid.String())
	}
	for _, ip := range c.IPAddresses {
		s.IPAddresses = append(s.IPAddresses, ip.String())
	}
	for _, u := range c.URIs {
		s.URIs = append(s.URIs, u.String())
	}
	for _, e := range c.Extensions {
		s.Extensions = append(s.Extensions, showExtension{e.Id.String(), e.Critical})
	}
	return s
}

type showRevoked struct {
	Serial         string `json:"serial"`
	RevocationTime string `json:"revocationTime"`
	Reason         string `json:"reason"`
	ReasonCode     int    `json:"reasonCode"` // -1: no reason extension
}

type showCRLJSON struct {
	Issuer             string        `json:"issuer"`
	Number             string        `json:"number"`
	ThisUpdate         string        `json:"thisUpdate"`
	NextUpdate         string        `json:"nextUpdate"`
	AuthorityKeyID     string        `json:"authorityKeyId"`
	SignatureAlgorithm string        `json:"signatureAlgorithm"`
	Revoked            []showRevoked `json:"revoked"`
}

func revocationReason(rc pkix.RevokedCertificate) (int, error) {
	for _, e := range rc.Extensions {
		if !e.Id.Equal(oidCRLReason) {
			continue
		}
		var code asn1.Enumerated
		rest, err := asn1.Unmarshal(e.Value, &code)
		if err != nil || len(rest) != 0 {
			return 0, failf("malformed CRL reason code for serial %s", serialHex(rc.SerialNumber))
		}
		return int(code), nil
	}
	return -1, nil
}

func reasonName(code int) string {
	if code < 0 {
		return "none"
	}
	if name, ok := crlReasonNames[code]; ok {
		return name
	}
	return "unknown"
}

func describeCRL(crl *x509.RevocationList) (showCRLJSON, error) {
	s := showCRLJSON{
		Issuer:             crl.Issuer.String(),
		ThisUpdate:         crl.ThisUpdate.UTC().Format(time.RFC3339),
		AuthorityKeyID:     hex.EncodeToString(crl.AuthorityKeyId),
		SignatureAlgorithm: crl.SignatureAlgorithm.String(),
		Revoked:            []showRevoked{},
	}
	if crl.Number != nil {
		s.Number = crl.Number.String()
	}
	if !crl.NextUpdate.IsZero() {
		s.NextUpdate = crl.NextUpdate.UTC().Format(time.RFC3339)
	}
	for _, rc := range crl.RevokedCertificates {
		code, err := revocationReason(rc)
		if err != nil {
			return s, err
		}
		s.Revoked = append(s.Revoked, showRevoked{
			Serial:         serialHex(rc.SerialNumber),
			RevocationTime: rc.RevocationTime.UTC().Format(time.RFC3339),
			Reason:         reasonName(code),
			ReasonCode:     code,
		})
	}
	return s, nil
}

func printJSON(v interface{}) error {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return failf("encode JSON: %v", err)
	}
	fmt.Println(string(out))
	return nil
}

func checkSelfSigned(path string) error {
	c, err := loadOneCert(path)
	if err != nil {
		return err
	}
	if !bytes.Equal(c.RawSubject, c.RawIssuer) {
		return failf("%s: subject %q differs from issuer %q", path, c.Subject, c.Issuer)
	}
	// CheckSignatureFrom also insists the parent may sign certificates
	// (CA basic constraint, keyCertSign if key usage is present).
	if err := c.CheckSignatureFrom(c); err != nil {
		return failf("%s: self-signature of %s does not verify: %v", path, c.Subject, err)
	}
	fmt.Printf("OK: %s is self-signed (key %s, %s)\n", c.Subject, keyDescription(c.PublicKey), c.SignatureAlgorithm)
	return nil
}

type verifyArgs struct {
	roots, intermediates, eku, dns, at, crl, crlIssuer, cert string
}

func checkCRL(a verifyArgs, leaf *x509.Certificate, now time.Time) error {
	crl, err := loadCRL(a.crl)
	if err != nil {
		return err
	}
	issuer, err := loadOneCert(a.crlIssuer)
	if err != nil {
		return err
	}
	if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
		return failf("CRL issuer %s is not %s", crl.Issuer, issuer.Subject)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return failf("CRL signature does not verify against %s: %v", issuer.Subject, err)
	}
	if !bytes.Equal(leaf.RawIssuer, issuer.RawSubject) {
		return failf("CRL is from %s but %s was issued by %s", issuer.Subject, leaf.Subject, leaf.Issuer)
	}
	if now.Before(crl.ThisUpdate) {
		return failf("CRL is not yet valid (thisUpdate %s)", crl.ThisUpdate.UTC().Format(time.RFC3339))
	}
	if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
		return failf("CRL is stale (nextUpdate %s)", crl.NextUpdate.UTC().Format(time.RFC3339))
	}
	for _, rc := range crl.RevokedCertificates {
		if rc.SerialNumber == nil || rc.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			continue
		}
		code, err := revocationReason(rc)
		if err != nil {
			return err
		}
		return failf("%s (serial %s) is revoked since %s, reason %s (%d)",
			leaf.Subject, serialHex(leaf.SerialNumber),
			rc.RevocationTime.UTC().Format(time.RFC3339), reasonName(code), code)
	}
	return nil
}

func verify(a verifyArgs) error {
	certs, err := loadCerts(a.cert)
	if err != nil {
		return err
	}
	leaf := certs[0]
	opts := x509.VerifyOptions{
		Roots:         x509.NewCertPool(),
		Intermediates: x509.NewCertPool(),
		DNSName:       a.dns,
	}
	// Extra certificates after the leaf in CERT.pem are intermediates.
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	roots, err := loadCerts(a.roots)
	if err != nil {
		return err
	}
	for _, c := range roots {
		opts.Roots.AddCert(c)
	}
	if a.intermediates != "" {
		ints, err := loadCerts(a.intermediates)
		if err != nil {
			return err
		}
		for _, c := range ints {
			opts.Intermediates.AddCert(c)
		}
	}
	switch a.eku {
	case "server":
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	case "client":
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	case "any":
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	default:
		return usageError(fmt.Sprintf("--eku must be server, client or any, not %q", a.eku))
	}
	now := time.Now()
	if a.at != "" {
		now, err = time.Parse(time.RFC3339, a.at)
		if err != nil {
			return usageError(fmt.Sprintf("--time: %v", err))
		}
		opts.CurrentTime = now
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return failf("%s: %v", leaf.Subject, err)
	}
	if len(chains) == 0 || len(chains[0]) == 0 {
		return failf("%s: verifier returned no chain", leaf.Subject)
	}
	if a.crl != "" {
		if err := checkCRL(a, leaf, now); err != nil {
			return err
		}
	}
	chain := chains[0]
	root := chain[len(chain)-1]
	fmt.Printf("OK: %s chains to %s (%s)\n", leaf.Subject, root.Subject, leaf.SignatureAlgorithm)
	return nil
}

type usageErr struct{ msg string }

func (u usageErr) Error() string { return u.msg }

func usageError(msg string) error { return usageErr{msg} }

const usageText = `usage:
  x509verify --roots ROOTS.pem [--intermediates INT.pem] [--eku server|client|any]
             [--dns NAME|IP] [--time RFC3339] [--crl CRL.pem --crl-issuer CA.pem] CERT.pem
  x509verify --check-self-signed ROOT.pem
  x509verify --show CERT.pem
  x509verify --show-crl CRL.pem
Options go before the file. --eku defaults to any. Certificates after the
first in CERT.pem are used as intermediates. Exit: 0 OK, 1 FAIL, 2 usage.
`

func run(args []string) error {
	fs := flag.NewFlagSet("x509verify", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usageText) }
	var a verifyArgs
	var selfSigned, show, showCRL string
	fs.StringVar(&a.roots, "roots", "", "trusted root certificates (PEM)")
	fs.StringVar(&a.intermediates, "intermediates", "", "untrusted intermediate certificates (PEM)")
	fs.StringVar(&a.eku, "eku", "any", "required extended key usage: server, client or any")
	fs.StringVar(&a.dns, "dns", "", "name (or IP literal) the certificate must be valid for")
	fs.StringVar(&a.at, "time", "", "verification time, RFC 3339 (default now)")
	fs.StringVar(&a.crl, "crl", "", "CRL (PEM or DER) to check the certificate against")
	fs.StringVar(&a.crlIssuer, "crl-issuer", "", "certificate of the CRL's issuer")
	fs.StringVar(&selfSigned, "check-self-signed", "", "check a root's own signature")
	fs.StringVar(&show, "show", "", "print the parsed certificate as JSON")
	fs.StringVar(&showCRL, "show-crl", "", "print the parsed CRL as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return usageError("")
		}
		return usageError(err.Error())
	}
	modes := 0
	for _, m := range []string{selfSigned, show, showCRL} {
		if m != "" {
			modes++
		}
	}
	if modes > 1 {
		return usageError("--check-self-signed, --show and --show-crl are exclusive")
	}
	if modes == 1 {
		if fs.NArg() != 0 {
			return usageError("unexpected argument " + fs.Arg(0))
		}
		switch {
		case selfSigned != "":
			return checkSelfSigned(selfSigned)
		case show != "":
			c, err := loadOneCert(show)
			if err != nil {
				return err
			}
			return printJSON(describeCert(c))
		default:
			crl, err := loadCRL(showCRL)
			if err != nil {
				return err
			}
			d, err := describeCRL(crl)
			if err != nil {
				return err
			}
			return printJSON(d)
		}
	}
	if fs.NArg() != 1 {
		return usageError("want exactly one CERT.pem after the options")
	}
	a.cert = fs.Arg(0)
	if a.roots == "" {
		return usageError("--roots is required")
	}
	if (a.crl == "") != (a.crlIssuer == "") {
		return usageError("--crl and --crl-issuer go together")
	}
	return verify(a)
}

func main() {
	code := 0
	func() {
		// Malformed input must end in FAIL, never in a Go stack trace.
		defer func() {
			if r := recover(); r != nil {
				fmt.Printf("FAIL: internal error (panic): %v\n", r)
				code = 1
			}
		}()
		err := run(os.Args[1:])
		var u usageErr
		switch {
		case err == nil:
		case errors.As(err, &u):
			if u.msg != "" {
				fmt.Fprintf(os.Stderr, "x509verify: %s\n", u.msg)
			}
			fmt.Fprint(os.Stderr, usageText)
			code = 2
		default:
			fmt.Printf("FAIL: %s\n", strings.TrimSpace(err.Error()))
			code = 1
		}
	}()
	os.Exit(code)
}
