/** The OVF descriptor of kexport's OVA. */

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * OVF 1.0 descriptor: 2 CPUs, 2 GiB, UEFI firmware, one SATA disk, one NIC. Capacity is the disk's
 * virtual size; OS id 96 is CIM's "Debian 64-bit". rasd elements in schema (alphabetical) order.
 */
export function ovfDescriptor(o: { name: string; disk: string; capacity: number; os: string }): string {
  const item = (fields: Record<string, string>) =>
    `      <Item>\n${Object.keys(fields)
      .sort()
      .map((k) => `        <rasd:${k}>${esc(fields[k] ?? '')}</rasd:${k}>`)
      .join('\n')}\n      </Item>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:id="file1" ovf:href="${esc(o.disk)}"/>
  </References>
  <DiskSection>
    <Info>Virtual disks</Info>
    <Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="${o.capacity}" ovf:capacityAllocationUnits="byte" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>Logical networks</Info>
    <Network ovf:name="nat">
      <Description>The machine's one network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="${esc(o.name)}">
    <Info>A kldload boot environment exported by kexport</Info>
    <Name>${esc(o.name)}</Name>
    <OperatingSystemSection ovf:id="96">
      <Info>Guest operating system</Info>
      <Description>${esc(o.os)}</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${esc(o.name)}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-14</vssd:VirtualSystemType>
      </System>
${[
  item({
    AllocationUnits: 'hertz * 10^6',
    ElementName: '2 virtual CPUs',
    InstanceID: '1',
    ResourceType: '3',
    VirtualQuantity: '2',
  }),
  item({
    AllocationUnits: 'byte * 2^20',
    ElementName: '2048 MB of memory',
    InstanceID: '2',
    ResourceType: '4',
    VirtualQuantity: '2048',
  }),
  item({
    Address: '0',
    ElementName: 'SATA controller',
    InstanceID: '3',
    ResourceSubType: 'vmware.sata.ahci',
    ResourceType: '20',
  }),
  item({
    AddressOnParent: '0',
    ElementName: 'disk 1',
    HostResource: 'ovf:/disk/vmdisk1',
    InstanceID: '4',
    Parent: '3',
    ResourceType: '17',
  }),
  item({
    AutomaticAllocation: 'true',
    Connection: 'nat',
    ElementName: 'ethernet 1',
    InstanceID: '5',
    ResourceSubType: 'E1000',
    ResourceType: '10',
  }),
].join('\n')}
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}
