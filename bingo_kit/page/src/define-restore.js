// See define-once.js.
if (customElements.bingoKitDefine) {
  customElements.define = customElements.bingoKitDefine;
  delete customElements.bingoKitDefine;
}
