/** The page's stylesheet, served as /app.css (CSP allows no inline styles). */
export const CSS = `
:root { font-family: system-ui, sans-serif; color: #1b1f24; background: #f4f5f7; }
body { margin: 0; }
header { background: #1f3a5f; color: #fff; padding: .8rem 1.5rem; font-size: 1.2rem; }
#main { max-width: 56rem; margin: 1.5rem auto; background: #fff; padding: 1.5rem 2rem; border-radius: 6px; box-shadow: 0 1px 3px #0002; }
ol.steps { display: flex; flex-wrap: wrap; gap: .4rem; list-style: none; padding: 0; margin: 0 0 1rem; font-size: .85rem; }
ol.steps li { padding: .2rem .6rem; border-radius: 1rem; background: #e4e7eb; }
ol.steps li.on { background: #1f3a5f; color: #fff; }
ol.steps li.done { background: #c9e7d0; }
.field { margin: .9rem 0; }
.field label { display: block; font-weight: 600; margin-bottom: .2rem; }
.field small { display: block; color: #5b6470; }
input[type=text], input[type=password], select { width: 100%; max-width: 36rem; padding: .4rem; font-size: 1rem; box-sizing: border-box; }
label.check { display: block; margin: .6rem 0; }
label.disk { display: block; font-weight: normal; padding: .4rem; border: 1px solid #d5d9de; border-radius: 4px; margin: .3rem 0; }
label.disk.data { border-color: #d08a00; background: #fff7e6; }
label.disk.off { color: #8a929c; }
.warn { color: #a35a00; font-weight: 600; }
.err { color: #b00020; white-space: pre-wrap; }
.buttons { display: flex; gap: .6rem; margin-top: 1.2rem; }
button { font-size: 1rem; padding: .45rem 1.1rem; border-radius: 4px; border: 1px solid #9aa3ad; background: #fff; cursor: pointer; }
button.primary { background: #1f3a5f; color: #fff; border-color: #1f3a5f; }
pre { background: #111820; color: #d8dee6; padding: .8rem; overflow: auto; max-height: 24rem; font-size: .8rem; }
.bar { height: 1rem; background: #e4e7eb; border-radius: .5rem; overflow: hidden; }
#bar-fill { height: 100%; width: 0; background: #2e7d32; transition: width .3s; }
#progress-steps li.done { color: #2e7d32; }
#progress-steps li.failed { color: #b00020; font-weight: 600; }
p.ok { color: #2e7d32; font-weight: 600; }
p.fail { color: #b00020; font-weight: 600; }
`;
