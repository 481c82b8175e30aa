// Each notebook (and each reload of this module) evaluates the bundle again, and the Uno element's class
// decorator calls customElements.define at evaluation: a second define of the same tag name throws and would
// stop the whole module. So, while this module's imports evaluate, a name that is already defined is skipped;
// define-restore.js puts the browser's own define back right after.
if (!customElements.bingoKitDefine) {
  const define = customElements.define.bind(customElements);
  customElements.bingoKitDefine = define;
  customElements.define = (name, constructor, options) => {
    if (!customElements.get(name)) define(name, constructor, options);
  };
}
